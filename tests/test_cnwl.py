"""CNWL split files and image directories, and a plain run on a tiny JPEG tree."""
import json
import os

import numpy as np
from absl.testing import absltest

from famus_tf.data import cnwl
from tests.fixtures import run_main, write_jpeg


def tree(root, bad=""):
    split = os.path.join(root, "split")
    os.makedirs(split)
    rng = np.random.default_rng(0)
    jpeg = lambda path: write_jpeg(path, rng, (84, 84, 3))  # noqa: E731
    with open(os.path.join(split, "red_noise_nl_0.4"), "w") as fh:
        for i in range(40):
            jpeg(os.path.join(root, "all_images", f"img{i}.jpg"))
            fh.write(f"img{i}.jpg {i % 100}\n")
        fh.write(bad)
    with open(os.path.join(split, "clean_validation"), "w") as fh:
        for i in range(6):
            jpeg(os.path.join(root, "validation", str(i * 7), f"v{i}.jpg"))
            fh.write(f"v{i}.jpg {i * 7}\n")


class CnwlTest(absltest.TestCase):

    def test_layout_and_errors(self):
        root = self.create_tempdir().full_path
        tree(root)
        d = cnwl.load_cnwl(root, "red", 0.4)
        self.assertEqual(len(d["train"][0]), 40)
        self.assertEqual(d["test"][0][2], os.path.join(root, "validation", "14", "v2.jpg"))
        with self.assertRaisesRegex(FileNotFoundError, "blue_noise_nl_0.4"):
            cnwl.load_cnwl(root, "blue", 0.4)
        with self.assertRaisesRegex(ValueError, "noise level"):
            cnwl.load_cnwl(root, "red", 0.5)
        bad = self.create_tempdir().full_path
        tree(bad, bad="img0.jpg 100\n")
        with self.assertRaisesRegex(ValueError, r"red_noise_nl_0.4:41: label 100"):
            cnwl.load_cnwl(bad, "red", 0.4)

    def test_plain_run_at_32(self):
        root = self.create_tempdir().full_path
        tree(root)
        model_dir = self.create_tempdir().full_path
        # the flagfile's plain cross-entropy baseline (its Algorithm 2 run: test_cotrain_flagfiles)
        out = run_main("--flagfile=launch/cnwl_red_40.cfg", f"--data_dir={root}", "--model=small_cnn",
                       "--meta_set=clean", "--method=plain", "--batch_size=8", "--epochs=1",
                       "--export=false", f"--model_dir={model_dir}")
        self.assertEqual(out.returncode, 0, out.stderr[-3000:])
        results = json.load(open(os.path.join(model_dir, "results.json")))
        self.assertEqual(results["steps"], 5)


if __name__ == "__main__":
    absltest.main()
