"""The cosine classifier head of LDAM (models/heads.py): its values against the formula,
its place in the models, its export with the LDAM scale, and that LDAM with s = 30
trains on it where it diverges on the linear head."""
import json
import os

import keras
import numpy as np
import tensorflow as tf
from absl.testing import absltest

from famus_tf import models
from famus_tf.models.heads import CosineLinear
from famus_tf.train import export
from tests.fixtures import run_main


class CosineLinearTest(absltest.TestCase):

    def test_logits_are_cosines_of_features_and_class_columns(self):
        keras.utils.set_random_seed(1)
        layer = CosineLinear(5)
        x = np.random.default_rng(0).normal(size=(7, 3)).astype(np.float32)
        z = layer(x).numpy()
        w = layer.kernel.numpy()
        np.testing.assert_allclose(np.linalg.norm(w, axis=0), 1.0, rtol=1e-5)  # unit columns at init
        expected = (x / np.linalg.norm(x, axis=1, keepdims=True)) @ (w / np.linalg.norm(w, axis=0))
        np.testing.assert_allclose(z, expected, rtol=1e-5, atol=1e-6)
        layer.kernel.assign(3.0 * w)  # the logits do not depend on the columns' norms
        np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-5, atol=1e-6)

    def test_cosine_model_keeps_the_body_and_puts_the_head_last(self):
        keras.utils.set_random_seed(0)
        linear = models.build_model("resnet32", 10, (32, 32, 3))
        cosine = models.build_model("resnet32", 10, (32, 32, 3), head="cosine")
        lin_paths = [v.path for v in linear.trainable_variables]
        cos_paths = [v.path for v in cosine.trainable_variables]
        self.assertEqual(cos_paths[:-1], [p for p in lin_paths if not p.startswith("head")])
        self.assertEqual(cos_paths[-1], "head_cosine/kernel")
        x = tf.random.normal([2, 32, 32, 3])
        self.assertLessEqual(float(tf.reduce_max(tf.abs(cosine(x)))), 1.0 + 1e-5)
        with self.assertRaisesRegex(ValueError, "--head"):
            models.build_model("small_cnn", 10, (8, 8, 1), head="arcface")

    def test_export_serves_scaled_logits(self):
        keras.utils.set_random_seed(0)
        model = models.build_model("small_cnn", 4, (8, 8, 1), head="cosine")
        path = os.path.join(self.create_tempdir().full_path, "export")
        export.export_classifier(model, path, (0.5,), (0.25,), (8, 8, 1), logit_scale=30.0)
        images = np.random.default_rng(0).integers(0, 256, (3, 8, 8, 1)).astype(np.uint8)
        served = export.load_serving(path)(images)
        direct = model((images.astype(np.float32) / 255.0 - 0.5) / 0.25, training=False).numpy()
        np.testing.assert_allclose(served["logits"].numpy(), 30.0 * direct, rtol=1e-4, atol=1e-4)
        self.assertEqual(json.load(open(os.path.join(path, "export_info.json")))["logit_scale"], 30.0)


class LdamOnTheCosineHeadTest(absltest.TestCase):

    def _top1(self, head):
        model_dir = self.create_tempdir().full_path
        out = run_main("--flagfile=launch/quickstart.cfg", "--method=plain", "--famus=false",
                       "--loss=ldam", "--ldam_scale=30", f"--head={head}", "--noise_rate=0",
                       "--epochs=4", "--lr_epochs=", "--compare_baseline=false", "--export=false",
                       "--profile_split=false", f"--model_dir={model_dir}")
        self.assertEqual(out.returncode, 0, out.stderr[-2000:])
        return json.load(open(os.path.join(model_dir, "results.json")))["tests"]["test"]["last_top1"]

    def test_s30_trains_on_the_cosine_head_and_not_on_the_linear_one(self):
        self.assertGreater(self._top1("cosine"), 0.85)
        self.assertLess(self._top1("linear"), 0.5)

    def test_cosine_head_without_ldam_is_refused(self):
        model_dir = self.create_tempdir().full_path
        out = run_main("--head=cosine", f"--model_dir={model_dir}")
        self.assertEqual(out.returncode, 2, out.stderr[-2000:])
        self.assertIn("--head=cosine", out.stderr)
        self.assertNotIn("Traceback", out.stderr)
        self.assertEqual(os.listdir(model_dir), [])


if __name__ == "__main__":
    absltest.main()
