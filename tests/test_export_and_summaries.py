"""SavedModel export with a uint8 signature, and TensorBoard summaries read back."""
import os
import time

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
        self.check_wrong_shapes_in_a_serving_process(path, out["logits"].numpy()[:2], images[:2])

    def check_wrong_shapes_in_a_serving_process(self, path, logits, images):
        """A wrong rank, size or channel count is an error of the call; the serving
        process lives on and still answers a good call with the same logits."""
        import subprocess
        import sys
        from tests.fixtures import REPO
        script = """if True:
            import sys
            import numpy as np
            import tensorflow as tf
            fn = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
            for shape in ([8, 8], [2, 7, 6, 1], [2, 6, 6, 3], [6, 6, 1]):
                try:
                    fn(images=tf.zeros(shape, tf.uint8))
                    print(shape, "accepted")
                except tf.errors.InvalidArgumentError as e:
                    print(shape, "refused", "expected shape [?,6,6,1]" in str(e))
            good = np.frombuffer(bytes.fromhex(sys.argv[2]), np.uint8).reshape(2, 6, 6, 1)
            print("logits", fn(images=tf.constant(good))["logits"].numpy().tolist())
        """
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
        out = subprocess.run([sys.executable, "-c", script, path, images.tobytes().hex()], cwd=REPO,
                             env=env, capture_output=True, text=True, timeout=300)
        self.assertEqual(out.returncode, 0, out.stderr[-2000:])
        lines = out.stdout.strip().splitlines()
        self.assertEqual(lines[:4], [f"{s} refused True" for s in
                                     ([8, 8], [2, 7, 6, 1], [2, 6, 6, 3], [6, 6, 1])])
        np.testing.assert_allclose(eval(lines[4][len("logits "):]), logits, atol=1e-5)


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
        # the weight store's histograms leave out examples never seen (NaN): here every
        # truly clean example is unseen, so only the noisy histogram is written
        stored = self.create_tempdir().full_path
        s = summaries.Summaries(stored)
        summaries.store_histograms(s, 3, [np.nan, 0.2, 1.5, np.nan], [True, False, False, True])
        s.close()
        self.assertEqual({t for t in summaries.read_tags(stored) if t.startswith("meta_weight")},
                         {"meta_weight/noisy"})
        off = self.create_tempdir().full_path
        disabled = summaries.Summaries(off, enabled=False)
        disabled.scalars(1, {"x": 1.0})
        self.assertEqual(os.listdir(off), [])


if __name__ == "__main__":
    absltest.main()


class ResumedSummariesTest(absltest.TestCase):

    def test_a_resumed_writer_continues_without_repeating_steps_and_ends_the_session(self):
        logdir = self.create_tempdir().full_path
        first = summaries.Summaries(logdir)
        first.hparams({"OptimConfig.lr": 0.1}, ("test/top1",))
        for step in range(1, 6):  # killed after step 5; the checkpoint was at step 2
            first.scalars(step, {"train/loss": 10.0 - step})
        first.close()
        self.assertEqual(summaries.last_step(logdir), 5)
        # A resumed run is a later process: its event file's name (whole seconds) sorts
        # after the first one's, as TensorBoard reads them. Within one second it may not.
        time.sleep(1.1)
        resumed = summaries.Summaries(logdir, after_step=summaries.last_step(logdir))
        for step in range(3, 8):  # the resumed run re-runs steps 3-5 exactly
            resumed.scalars(step, {"train/loss": 10.0 - step})
        resumed.end_session(7)
        resumed.close()
        self.assertEqual(summaries.read_scalars(logdir)["train/loss"],
                         [(s, 10.0 - s) for s in range(1, 8)])
        tags = summaries.read_tags(logdir)
        self.assertIn("_hparams_/session_start_info", tags)
        self.assertIn("_hparams_/session_end_info", tags)
        self.assertIn("_hparams_/experiment", tags)
