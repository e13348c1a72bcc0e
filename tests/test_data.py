"""Noise models, meta-set splits, the embedded digits and the tf.data pipeline."""
import os

import numpy as np
import tensorflow as tf
from absl.testing import absltest, parameterized

from famus_tf.data import digits, noise, pipeline, splits


def labels(n=20000, c=10, seed=0):
    return np.random.default_rng(seed).integers(0, c, n)


class NoiseTest(parameterized.TestCase):

    def test_symmetric_resamples_exactly_rate_n_from_all_classes(self):
        y = labels()
        noisy = noise.corrupt(y, 10, noise.NoiseConfig("symmetric", 0.4, seed=1))
        changed = np.mean(noisy != y)
        self.assertAlmostEqual(changed, 0.4 * 9 / 10, delta=0.01)  # true label may be redrawn
        again = noise.corrupt(y, 10, noise.NoiseConfig("symmetric", 0.4, seed=1))
        np.testing.assert_array_equal(noisy, again)
        other = noise.corrupt(y, 10, noise.NoiseConfig("symmetric", 0.4, seed=2))
        self.assertGreater(np.mean(other != noisy), 0.1)

    def test_symmetric_exclusive_flips_exactly_per_class_to_other_classes(self):
        y = labels()
        noisy = noise.corrupt(y, 10, noise.NoiseConfig("symmetric_exclusive", 0.3, seed=0))
        for c in range(10):
            members = y == c
            self.assertEqual(np.sum(noisy[members] != c), int(round(0.3 * members.sum())))

    def test_asymmetric_changes_only_mapped_classes_to_their_targets(self):
        y = labels()
        noisy = noise.corrupt(y, 10, noise.NoiseConfig("asymmetric", 0.4, seed=0))
        changed = noisy != y
        self.assertTrue(changed.any())
        for src, dst in zip(y[changed], noisy[changed]):
            self.assertEqual(noise.CIFAR10_ASYM[src], dst)
        with self.assertRaisesRegex(ValueError, "transition"):
            noise.corrupt(labels(c=5), 5, noise.NoiseConfig("asymmetric", 0.4))

    @parameterized.parameters(("pairflip", 1), ("twoflip", 2))
    def test_flip_noise_follows_its_matrix(self, kind, others):
        y = labels(c=5)
        noisy = noise.corrupt(y, 5, noise.NoiseConfig(kind, 0.4, seed=3))
        t = noise.transition_matrix(y, noisy, 5)
        np.testing.assert_allclose(np.diag(t), 0.6, atol=0.02)
        for row in t:
            off = np.sort(row)[::-1][1:1 + others]
            np.testing.assert_allclose(off, 0.4 / others, atol=0.02)
            self.assertLess(np.sort(row)[::-1][1 + others:].sum(), 1e-9)

    def test_user_transition_is_validated_and_followed(self):
        t = ((0.7, 0.3), (0.1, 0.9))
        y = labels(c=2)
        noisy = noise.corrupt(y, 2, noise.NoiseConfig("transition", 0.0, transition=t))
        np.testing.assert_allclose(noise.transition_matrix(y, noisy, 2), t, atol=0.02)
        with self.assertRaisesRegex(ValueError, "sum to 1"):
            noise.corrupt(y, 2, noise.NoiseConfig("transition", transition=((0.5, 0.4), (0, 1))))
        with self.assertRaisesRegex(ValueError, "2x2"):
            noise.corrupt(y, 2, noise.NoiseConfig("transition", transition=((1.0,),)))

    def test_noise_files_round_trip_and_name_bad_lines(self):
        tmp = self.create_tempdir().full_path
        y = labels(100)
        noisy = noise.corrupt(y, 10, noise.NoiseConfig("symmetric", 0.5))
        for name in ("n.npz", "n.txt"):
            path = os.path.join(tmp, name)
            noise.save_noise_file(path, noisy, clean=y)
            back, clean = noise.load_noise_file(path, 10)
            np.testing.assert_array_equal(back, noisy)
            via = noise.corrupt(y, 10, noise.NoiseConfig("file", path=path))
            np.testing.assert_array_equal(via, noisy)
        bad = os.path.join(tmp, "bad.txt")
        with open(bad, "w") as fh:
            fh.write("# header\n1\n2\nseven\n")
        with self.assertRaisesRegex(ValueError, r"bad.txt:4"):
            noise.load_noise_file(bad)
        with open(bad, "w") as fh:
            fh.write("1\n12\n")
        with self.assertRaisesRegex(ValueError, r"bad.txt:line 2: label 12"):
            noise.load_noise_file(bad, 10)


class SplitsAndDigitsTest(absltest.TestCase):

    def test_take_per_class_is_exact_disjoint_and_covering(self):
        y = labels(1000)
        taken, rest = splits.take_per_class(y, 7, seed=0)
        self.assertEqual(np.bincount(y[taken]).tolist(), [7] * 10)
        self.assertEqual(len(np.intersect1d(taken, rest)), 0)
        self.assertEqual(len(taken) + len(rest), 1000)
        with self.assertRaisesRegex(ValueError, "class 1 has 1"):
            splits.take_per_class(np.array([0, 0, 1]), 2, seed=0)

    def test_digits_split(self):
        parts = digits.load_digits_splits()
        (xtr, ytr), (xte, yte) = parts["train"], parts["test"]
        self.assertEqual(xtr.shape[1:], digits.IMAGE_SHAPE)
        self.assertEqual(xtr.dtype, np.uint8)
        self.assertEqual(len(xtr) + len(xte), 1797)
        self.assertEqual(int(xtr.max()), 255)
        full = np.bincount(np.concatenate([ytr, yte]))
        np.testing.assert_allclose(np.bincount(yte), 0.3 * full, atol=1)
        all_x = np.concatenate([xtr, xte]) / 255.0
        self.assertAlmostEqual(all_x.mean(), digits.MEAN[0], places=5)
        self.assertAlmostEqual(all_x.std(), digits.STD[0], places=5)
        again = digits.load_digits_splits()
        np.testing.assert_array_equal(again["test"][1], yte)


class PipelineTest(absltest.TestCase):

    def test_train_stream_is_seeded_fixed_shape_and_covers_each_epoch(self):
        x = np.arange(20, dtype=np.int64)
        ds = pipeline.train_stream((x, x), 5, seed=3)
        first = [b[0].numpy() for b in ds.take(4)]
        self.assertEqual(sorted(np.concatenate(first).tolist()), list(range(20)))
        second = [b[0].numpy() for b in pipeline.train_stream((x, x), 5, seed=3).take(4)]
        np.testing.assert_array_equal(np.concatenate(first), np.concatenate(second))
        with self.assertRaisesRegex(ValueError, "larger"):
            pipeline.train_stream((x,), 21, seed=0)

    def test_preprocess(self):
        img = tf.constant([[[[0], [255]]]], tf.uint8)
        out = pipeline.preprocess(img, (0.5,), (0.25,), tf.float32).numpy()
        np.testing.assert_allclose(out.ravel(), [-2.0, 2.0], rtol=1e-6)


if __name__ == "__main__":
    absltest.main()
