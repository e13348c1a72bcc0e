"""On-device augmentation: what each crop takes, flips, and repeatability by step."""
import numpy as np
import tensorflow as tf
from absl.testing import absltest

from famus_tf.data import augment


def batch(n=8, size=10):
    return tf.reshape(tf.range(n * size * size * 2, dtype=tf.float32), [n, size, size, 2])


class AugmentTest(absltest.TestCase):

    def test_random_crop_takes_a_window_of_the_padded_image(self):
        x = batch()
        out = augment.random_crop(x, 10, step=3, stream=1, pad=4).numpy()
        padded = np.pad(x.numpy(), [(0, 0), (4, 4), (4, 4), (0, 0)])
        offsets = set()
        for i in range(8):
            hits = [(dy, dx) for dy in range(9) for dx in range(9)
                    if np.array_equal(padded[i, dy:dy + 10, dx:dx + 10], out[i])]
            self.assertTrue(hits, f"example {i} is not a window of its padded image")
            offsets.add(hits[0])
        self.assertGreater(len(offsets), 1)
        again = augment.random_crop(x, 10, step=3, stream=1, pad=4).numpy()
        np.testing.assert_array_equal(out, again)
        other = augment.random_crop(x, 10, step=4, stream=1, pad=4).numpy()
        self.assertFalse(np.array_equal(out, other))

    def test_flip_and_center_crop(self):
        x = batch(n=64)
        out = augment.random_flip(x, step=0, stream=0).numpy()
        flipped = [np.array_equal(out[i], x.numpy()[i, :, ::-1]) for i in range(64)]
        kept = [np.array_equal(out[i], x.numpy()[i]) for i in range(64)]
        self.assertTrue(all(f or k for f, k in zip(flipped, kept)))
        self.assertGreater(sum(flipped), 16)
        self.assertGreater(sum(kept), 16)
        np.testing.assert_array_equal(augment.center_crop(x, 6).numpy(), x.numpy()[:, 2:8, 2:8])

    def test_resized_crop_of_a_linear_ramp_stays_linear(self):
        ramp = tf.tile(tf.reshape(tf.range(12, dtype=tf.float32), [1, 1, 12, 1]), [4, 12, 1, 1])
        out = augment.random_resized_crop(ramp, 6, step=1, stream=0).numpy()[..., 0]
        for img in out:  # bilinear resampling of a ramp is a ramp: constant steps per row
            steps = np.diff(img, axis=1)
            np.testing.assert_allclose(steps, steps[0, 0], atol=1e-4)
            self.assertTrue((img >= 0).all() and (img <= 11).all())

    def test_specs_shapes_and_xla_agreement(self):
        x = batch(size=12)
        for spec, size in (("none", 12), ("crop_flip", 12), ("crop_flip:8", 8), ("resized_crop:7", 7)):
            out = augment.apply(spec, x, 5, 2)
            self.assertEqual(out.shape, (8, size, size, 2))
            xla = tf.function(lambda t: augment.apply(spec, t, 5, 2), jit_compile=True)(x)
            np.testing.assert_allclose(out.numpy(), xla.numpy(), rtol=1e-5, atol=1e-3)
        with self.assertRaisesRegex(ValueError, "unknown augmentation"):
            augment.apply("blur", x, 0, 0)


if __name__ == "__main__":
    absltest.main()
