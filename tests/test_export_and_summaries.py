"""SavedModel export with a uint8 signature, and TensorBoard summaries read back."""
import os

import keras
import numpy as np
import tensorflow as tf
from absl.testing import absltest

from famus_tf.data import pipeline
from famus_tf.train import export, summaries


def small_model():
    inp = keras.Input((6, 6, 1))
    h = keras.layers.Conv2D(3, 3, use_bias=False)(inp)
    h = keras.layers.BatchNormalization()(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    return keras.Model(inp, keras.layers.Dense(4, name="head_fc")(h))


class ExportTest(absltest.TestCase):

    def test_reloaded_savedmodel_matches_the_model(self):
        keras.utils.set_random_seed(0)
        model = small_model()
        for _ in range(3):  # non-trivial BN statistics: inference mode must be used
            model(tf.random.normal([8, 6, 6, 1]) * 3 + 1, training=True)
        path = os.path.join(self.create_tempdir().full_path, "export")
        export.export_classifier(model, path, (0.3,), (0.4,), (6, 6, 1))
        images = np.random.default_rng(0).integers(0, 256, (5, 6, 6, 1)).astype(np.uint8)
        out = export.load_serving(path)(images)
        expected = model(pipeline.preprocess(images, (0.3,), (0.4,), tf.float32), training=False)
        np.testing.assert_allclose(out["logits"].numpy(), expected.numpy(), atol=1e-5)
        np.testing.assert_allclose(out["probabilities"].numpy().sum(1), 1.0, atol=1e-6)
        export.export_classifier(model, path, (0.3,), (0.4,), (6, 6, 1))  # overwrite allowed
        other = self.create_tempdir().full_path
        open(os.path.join(other, "notes.txt"), "w").close()
        with self.assertRaisesRegex(FileExistsError, "notes|not a SavedModel"):
            export.export_classifier(model, other, (0.3,), (0.4,), (6, 6, 1))


class SummariesTest(absltest.TestCase):

    def test_written_summaries_read_back(self):
        logdir = self.create_tempdir().full_path
        s = summaries.Summaries(logdir)
        s.scalars(3, {"train/loss": 1.5, "train/accuracy": 0.25})
        s.hparams({"lr": 0.1, "method": "mwnet"})
        summaries.weight_histograms(s, 3, [0.1, 0.9, 0.5], [False, True, True])
        summaries.selection_counts(s, 3, [5, 0, 2], ["a", "b", "c"])
        s.close()
        tags = summaries.read_tags(logdir)
        for tag in ("train/loss", "weights/clean", "weights/noisy", "famus/selection_counts",
                    "famus/selection_counts_image", "famus/selection_counts_table"):
            self.assertIn(tag, tags)
        self.assertEqual(summaries.read_scalars(logdir)["train/loss"], [(3, 1.5)])
        off = self.create_tempdir().full_path
        disabled = summaries.Summaries(off, enabled=False)
        disabled.scalars(1, {"x": 1.0})
        self.assertEqual(os.listdir(off), [])


if __name__ == "__main__":
    absltest.main()
