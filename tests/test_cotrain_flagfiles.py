"""The Algorithm 2 flagfiles of WebVision and CNWL start Algorithm 2 on the tiny
JPEG trees of the data-set tests (a small CNN instead of the paper's network, a warm-up
epoch and a few co-training iterations), and the exported ensemble loads and classifies
uint8 images."""
import json
import os

import numpy as np
from absl.testing import absltest, parameterized

from famus_tf.train.export import load_serving
from tests.fixtures import run_main
from tests.test_cnwl import tree as cnwl_tree
from tests.test_webvision import jpeg_tree as webvision_tree

SMALL = ("--model=small_cnn", "--candidates=all", "--epochs=2", "--warmup_epochs=1",
         "--steps_per_call=1", "--eval_batch_size=8", "--num_segments=0")
CASES = (
    # flagfile, tree writer, overrides, warm-up steps, input shape
    ("webvision", webvision_tree, ("--batch_size=2", "--meta_batch_size=4", "--num_batches=4"), 4,
     (299, 299, 3)),
    ("cnwl_red_40", cnwl_tree, ("--batch_size=8", "--meta_batch_size=16"), 2, (32, 32, 3)),
)
# clothing1m_pseudo.cfg takes the same path as webvision.cfg (class-balanced epochs of
# JPEG files, Algorithm 2); tests/test_flagfiles.py checks that it parses and builds its configuration.


class FlagfileRunTest(parameterized.TestCase):

    @parameterized.named_parameters(*[(c[0], *c) for c in CASES])
    def test_starts_algorithm_2_and_exports_the_ensemble(self, name, tree, extra, warmup, shape):
        root = self.create_tempdir().full_path
        tree(root)
        model_dir = self.create_tempdir().full_path
        out = run_main(f"--flagfile=launch/{name}.cfg", f"--data_dir={root}", *SMALL, *extra,
                       f"--max_steps={warmup + 1}", f"--model_dir={model_dir}")
        self.assertEqual(out.returncode, 0, out.stderr[-3000:])
        results = json.load(open(os.path.join(model_dir, "results.json")))
        self.assertEqual(results["config"]["CotrainConfig"]["meta_set"], "pseudo_clean")
        self.assertEqual(results["config"]["MetaConfig"]["method"], "mwnet")
        self.assertEqual(results["steps"], warmup + 1)  # the warm-up epoch, then a co-training step
        for net in ("net1", "net2"):
            s = results["split"][net]
            self.assertGreater(s["labeled_size"], 0)
            self.assertGreater(s["unlabeled_size"], 0)
        images = np.random.default_rng(0).integers(0, 256, (3, *shape)).astype(np.uint8)
        served = load_serving(os.path.join(model_dir, "export"))(images)
        probs = served["probabilities"].numpy()
        self.assertEqual(probs.shape[0], 3)
        np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)


if __name__ == "__main__":
    absltest.main()
