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
