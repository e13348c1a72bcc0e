"""The class-balanced sampler counts classes exactly."""
import numpy as np
from absl.testing import absltest

from famus_tf.data import balanced


class BalancedTest(absltest.TestCase):

    def test_exact_counts_per_class(self):
        rng = np.random.default_rng(0)
        labels = rng.choice(14, size=5000, p=np.linspace(1, 5, 14) / np.linspace(1, 5, 14).sum())
        idx = balanced.epoch_indices(labels, num_batches=10, batch_size=28, num_classes=14, seed=1,
                                     epoch=0)
        self.assertEqual(len(idx), 280)
        self.assertEqual(np.bincount(labels[idx], minlength=14).tolist(), [20] * 14)
        self.assertEqual(len(set(idx.tolist())), 280)

    def test_small_class_contributes_what_it_has(self):
        labels = np.array([0] * 100 + [1] * 3 + [2] * 100)
        idx = balanced.balanced_indices(labels, 30, 3, np.random.default_rng(0))
        self.assertEqual(np.bincount(labels[idx]).tolist(), [10, 3, 10])

    def test_epochs_differ_and_repeat(self):
        labels = np.arange(1000) % 10
        a = balanced.epoch_indices(labels, 5, 10, 10, seed=3, epoch=0)
        b = balanced.epoch_indices(labels, 5, 10, 10, seed=3, epoch=1)
        again = balanced.epoch_indices(labels, 5, 10, 10, seed=3, epoch=0)
        np.testing.assert_array_equal(a, again)
        self.assertFalse(np.array_equal(np.sort(a), np.sort(b)))

    def test_empty_class_is_an_error(self):
        with self.assertRaisesRegex(ValueError, "class 2 has no examples"):
            balanced.balanced_indices(np.array([0, 1, 3]), 4, 4, np.random.default_rng(0))


if __name__ == "__main__":
    absltest.main()
