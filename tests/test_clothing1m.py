"""Clothing1M annotation files in their released form, with their errors."""
import os

import numpy as np
from absl.testing import absltest

from famus_tf.data import clothing1m


def write_tree(root, annotations=True, noisy_extra="", train_extra=""):
    ann = os.path.join(root, "annotations") if annotations else root
    os.makedirs(ann, exist_ok=True)
    imgs = [f"images/{i % 3}/{i:02d}/{i}.jpg" for i in range(30)]
    with open(os.path.join(ann, "noisy_label_kv.txt"), "w") as fh:
        fh.writelines(f"{p} {i % 14}\n" for i, p in enumerate(imgs[:20]))
        fh.write(noisy_extra)
    with open(os.path.join(ann, "clean_label_kv.txt"), "w") as fh:
        fh.writelines(f"{p} {(i + 1) % 14}\n" for i, p in enumerate(imgs[15:], start=15))
    with open(os.path.join(ann, "noisy_train_key_list.txt"), "w") as fh:
        fh.writelines(f"{p}\n" for p in imgs[:20])
        fh.write(train_extra)
    with open(os.path.join(ann, "clean_val_key_list.txt"), "w") as fh:
        fh.writelines(f"{p}\n" for p in imgs[20:25])
    with open(os.path.join(ann, "clean_test_key_list.txt"), "w") as fh:
        fh.writelines(f"{p}\n" for p in imgs[25:])
    return imgs


class Clothing1MTest(absltest.TestCase):

    def test_splits_labels_and_clean_subset(self):
        for annotations in (True, False):
            root = self.create_tempdir().full_path
            imgs = write_tree(root, annotations)
            d = clothing1m.load_clothing1m(root)
            paths, noisy, clean = d["train"]
            self.assertEqual(len(paths), 20)
            self.assertEqual(paths[3], os.path.join(root, imgs[3]))
            np.testing.assert_array_equal(noisy, np.arange(20) % 14)
            # Images 15..19 are in the clean kv too: their true labels are kept.
            np.testing.assert_array_equal(clean[15:], (np.arange(15, 20) + 1) % 14)
            self.assertTrue((clean[:15] == -1).all())
            self.assertEqual((len(d["val"][0]), len(d["test"][0])), (5, 5))

    def test_errors_name_file_and_line(self):
        root = self.create_tempdir().full_path
        write_tree(root, noisy_extra="images/x.jpg 14\n")
        with self.assertRaisesRegex(ValueError, r"noisy_label_kv.txt:21: label 14 outside"):
            clothing1m.load_clothing1m(root)
        root = self.create_tempdir().full_path
        write_tree(root, noisy_extra="images/y.jpg three\n")
        with self.assertRaisesRegex(ValueError, r"noisy_label_kv.txt:21: expected"):
            clothing1m.load_clothing1m(root)
        root = self.create_tempdir().full_path
        write_tree(root, train_extra="images/missing.jpg\n")
        with self.assertRaisesRegex(ValueError, r"noisy_train_key_list.txt:21: images/missing.jpg"):
            clothing1m.load_clothing1m(root)
        empty = self.create_tempdir().full_path
        with self.assertRaisesRegex(FileNotFoundError, "noisy_label_kv.txt"):
            clothing1m.load_clothing1m(empty)


if __name__ == "__main__":
    absltest.main()


def _jpeg_tree(root):
    """70 listed keys: 56 noisy training images (one corrupt) + 1 missing, 7 val, 6 test."""
    from tests.fixtures import write_jpeg
    ann = os.path.join(root, "annotations")
    os.makedirs(ann)
    rng = np.random.default_rng(0)
    keys = [f"images/{i % 5}/{i}.jpg" for i in range(70)]
    for k in keys[:-1]:  # the last listed image is missing
        write_jpeg(os.path.join(root, k), rng)
    with open(os.path.join(root, keys[3]), "wb") as fh:  # a corrupt JPEG
        fh.write(b"\xff\xd8\xff\xe0broken")
    write = lambda name, lines: open(os.path.join(ann, name), "w").writelines(lines)  # noqa: E731
    write("noisy_label_kv.txt", [f"{k} {i % 14}\n" for i, k in enumerate(keys)])
    write("clean_label_kv.txt", [f"{k} {(i + 1) % 14}\n" for i, k in enumerate(keys[:42])]
          + [f"{k} {i % 14}\n" for i, k in enumerate(keys[56:], start=56)])
    write("noisy_train_key_list.txt", [f"{k}\n" for k in keys[:56]] + [f"{keys[-1]}\n"])
    write("clean_val_key_list.txt", [f"{k}\n" for k in keys[56:63]])
    write("clean_test_key_list.txt", [f"{k}\n" for k in keys[63:69]])
    return keys


# MW-Net without FaMUS (the data path is under test here; FaMUS is in the digits runs).
RUN_ARGS = ("--dataset=clothing1m", "--model=small_cnn", "--method=mwnet", "--famus=false",
            "--meta_per_class=1", "--batch_size=14", "--meta_batch_size=7", "--num_batches=2",
            "--epochs=2", "--augment=crop_flip:224", "--noise_type=none", "--compare_baseline=false",
            "--export=false")


class Clothing1MRunTest(absltest.TestCase):
    """A tiny Clothing1M tree of real JPEGs (one corrupt, one missing) trains end to end."""

    def test_training_run_on_a_jpeg_tree(self):
        from tests.fixtures import run_main
        root = self.create_tempdir().full_path
        keys = _jpeg_tree(root)
        model_dir = self.create_tempdir().full_path
        out = run_main(*RUN_ARGS, f"--data_dir={root}", f"--model_dir={model_dir}")
        self.assertEqual(out.returncode, 0, out.stderr[-3000:])
        self.assertIn("1 listed image(s) missing", out.stderr)
        self.assertIn(keys[-1], out.stderr)
        import json
        results = json.load(open(os.path.join(model_dir, "results.json")))
        self.assertEqual(results["steps"], 4)  # 2 class-balanced batches x 2 epochs
        self.assertGreaterEqual(results["tests"]["test"]["last_top1"], 0.0)


class Clothing1MRecordsTest(absltest.TestCase):
    """The training split converted to TFRecords trains the same protocol; records of
    another meta split are refused at start-up."""

    def test_training_from_records_and_mismatch_refused(self):
        import json
        import subprocess
        import sys
        from tests.fixtures import REPO, run_main, run_main_in_process
        root, out = self.create_tempdir().full_path, self.create_tempdir().full_path
        keys = _jpeg_tree(root)
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
        conv = subprocess.run([sys.executable, "-m", "famus_tf.data.convert", "--dataset=clothing1m",
                               f"--data_dir={root}", f"--output_dir={out}", "--meta_per_class=1"],
                              cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
        self.assertEqual(conv.returncode, 0, conv.stderr[-3000:])
        self.assertIn(keys[3], conv.stdout)  # the corrupt file, named and skipped
        model_dir = self.create_tempdir().full_path
        run = run_main(*RUN_ARGS, f"--data_dir={root}", f"--records_dir={out}",
                       f"--model_dir={model_dir}")
        self.assertEqual(run.returncode, 0, run.stderr[-3000:])
        results = json.load(open(os.path.join(model_dir, "results.json")))
        self.assertEqual(results["steps"], 4)
        refused_dir = self.create_tempdir().full_path
        code, stderr = run_main_in_process(*RUN_ARGS, "--meta_per_class=2", f"--data_dir={root}",
                                           f"--records_dir={out}", f"--model_dir={refused_dir}")
        self.assertEqual(code, 2, stderr[-2000:])
        self.assertIn("--records_dir", stderr)
        self.assertEqual(os.listdir(refused_dir), [])
