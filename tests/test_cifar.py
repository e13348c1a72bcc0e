"""CIFAR loaders on fixtures in the released python-batch format and on TFDS mock data."""
import os
import pickle

import numpy as np
import tensorflow_datasets as tfds
from absl.testing import absltest

from famus_tf.config import DataConfig
from famus_tf.data import cifar, datasets
from famus_tf.data.noise import NoiseConfig


def write_batches(root, name, per_batch=20):
    folder, train, test, key = cifar._PY[name]
    d = os.path.join(root, folder)
    os.makedirs(d)
    rng = np.random.default_rng(0)
    classes = cifar.INFO[name][0]
    for f in train + test:
        n = per_batch if name == "cifar10" else per_batch * 5
        data = rng.integers(0, 256, (n, 3072)).astype(np.uint8)
        labels = [int(i % classes) for i in range(n)]
        with open(os.path.join(d, f), "wb") as fh:
            pickle.dump({b"data": data, key: labels}, fh, protocol=2)
    return d


class CifarTest(absltest.TestCase):

    def test_python_batches_layout_and_errors(self):
        root = self.create_tempdir().full_path
        d = write_batches(root, "cifar10")
        out = cifar.load_cifar("cifar10", root)
        x, y = out["train"]
        self.assertEqual(x.shape, (100, 32, 32, 3))
        self.assertEqual(out["test"][0].shape, (20, 32, 32, 3))
        with open(os.path.join(d, "data_batch_2"), "rb") as fh:
            raw = pickle.load(fh, encoding="bytes")[b"data"]
        # Rows are channel-major: pixel (y=3, x=5) of channel 2 is at 2*1024 + 3*32 + 5.
        self.assertEqual(x[20 + 7, 3, 5, 2], raw[7, 2 * 1024 + 3 * 32 + 5])
        self.assertEqual(set(y.tolist()), set(range(10)))
        with open(os.path.join(d, "test_batch"), "wb") as fh:
            pickle.dump({b"data": raw, b"labels": [12] + [0] * 19}, fh, protocol=2)
        with self.assertRaisesRegex(ValueError, "test_batch: label 12 at index 0"):
            cifar.load_cifar("cifar10", root)
        with self.assertRaisesRegex(FileNotFoundError, "cifar-100-python"):
            cifar.load_cifar("cifar100", root)

    def test_cifar100_and_long_tail_through_prepare(self):
        root = self.create_tempdir().full_path
        write_batches(root, "cifar100", per_batch=40)  # 200 train images, 2 per class
        cfg = DataConfig(dataset="cifar100_lt", data_dir=root, meta_per_class=1, imbalance=2.0)
        p = datasets.prepare(cfg, NoiseConfig("symmetric", 0.2))
        self.assertEqual((p.num_classes, p.image_shape), (100, (32, 32, 3)))
        self.assertEqual(len(p.meta_labels), 100)
        self.assertLess(len(p.train_labels), 100)  # the tail lost examples

    def test_long_tail_profile(self):
        labels = np.repeat(np.arange(10), 500)
        for imbalance in (100, 10):
            keep = cifar.long_tailed(None, labels, 10, imbalance, seed=0)
            counts = np.bincount(labels[keep], minlength=10)
            expected = [int(500 * imbalance ** (-c / 9)) for c in range(10)]
            self.assertEqual(counts.tolist(), expected)
            self.assertEqual(counts[0] // counts[-1], imbalance)

    def test_tfds_sources_with_mock_data(self):
        root = self.create_tempdir().full_path
        os.makedirs(os.path.join(root, "cifar10"))
        os.makedirs(os.path.join(root, "cifar10_n"))
        with tfds.testing.mock_data(num_examples=12):
            out = cifar.load_cifar("cifar10", root, source="tfds")
            self.assertEqual(out["train"][0].shape, (12, 32, 32, 3))
            n = cifar.load_cifar_n("cifar10", root, "worst")
            images, noisy, clean = n["train"]
            self.assertEqual((len(noisy), len(clean)), (12, 12))
            self.assertTrue(((noisy >= 0) & (noisy < 10)).all())
        with self.assertRaisesRegex(ValueError, "label set"):
            cifar.load_cifar_n("cifar10", root, "best")

    def test_cifar_n_label_file(self):
        root = self.create_tempdir().full_path
        write_batches(root, "cifar10")
        rng = np.random.default_rng(1)
        worst = rng.integers(0, 10, 100)
        np.savez(os.path.join(root, "cifar10n.npz"), worse_label=worst, aggre_label=worst)
        out = cifar.load_cifar_n("cifar10", root, "worst", source="python")
        np.testing.assert_array_equal(out["train"][1], worst)
        cfg = DataConfig(dataset="cifar10n", data_dir=root, meta_per_class=2, label_set="worst")
        p = datasets.prepare(cfg, NoiseConfig("none"))
        self.assertEqual(len(p.train_labels) + len(p.meta_labels), 100)


if __name__ == "__main__":
    absltest.main()
