"""The data check command names every bad file and list line."""
import os
import subprocess
import sys

from absl.testing import absltest

from famus_tf.data import check
from tests.test_clothing1m import write_tree
from tests.test_images import jpeg_tree

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class CheckTest(absltest.TestCase):

    def test_clothing1m_tree_with_bad_files(self):
        root = self.create_tempdir().full_path
        keys = write_tree(root)
        good, corrupt, _ = jpeg_tree(os.path.join(root, "src"))
        for i, k in enumerate(keys):  # real JPEGs for every key except two
            if i in (4, 21):
                continue
            os.makedirs(os.path.dirname(os.path.join(root, k)), exist_ok=True)
            src = corrupt if i == 7 else good[i % len(good)]
            with open(src, "rb") as a, open(os.path.join(root, k), "wb") as b:
                data = a.read()
                b.write(data[:len(data) // 2] if i == 9 else data)  # 9: a truncated download
        lines = []
        problems = check.check("clothing1m", root, out=lines.append)
        text = "\n".join(lines)
        self.assertEqual(problems, 4)
        self.assertIn(f"BAD train: {os.path.join(root, keys[9])}: corrupt", text)
        self.assertIn("train: 20 images", text)
        self.assertIn(f"BAD train: {os.path.join(root, keys[4])}: missing", text)
        self.assertIn(f"BAD train: {os.path.join(root, keys[7])}: corrupt", text)
        self.assertIn(f"BAD val: {os.path.join(root, keys[21])}: missing", text)

    def test_command_exit_codes_and_list_errors(self):
        root = self.create_tempdir().full_path
        write_tree(root, noisy_extra="images/x.jpg 99\n")
        out = subprocess.run([sys.executable, "-m", "famus_tf.data.check", "--dataset=clothing1m",
                              f"--data_dir={root}"], cwd=REPO, capture_output=True, text=True,
                             timeout=300, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
        self.assertEqual(out.returncode, 1)
        self.assertIn("noisy_label_kv.txt:21: label 99", out.stdout)
        ok = subprocess.run([sys.executable, "-m", "famus_tf.data.check", "--dataset=digits"],
                            cwd=REPO, capture_output=True, text=True, timeout=300,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
        self.assertEqual(ok.returncode, 0, ok.stdout + ok.stderr[-1000:])
        self.assertIn("OK", ok.stdout)


if __name__ == "__main__":
    absltest.main()
