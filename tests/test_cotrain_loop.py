"""Algorithm 2 end to end (--meta_set=pseudo_clean; famus_tf/cotrain/trainer.py), in
separate processes as a user runs it: the digits with no clean meta set (warm-up, one
co-training epoch), the split statistics in results.json, the ensemble SavedModel (the
mean of the two exported networks' logits), exact resume after a SIGKILL in the middle of
a co-training epoch, and the WebVision, CNWL and Clothing1M flagfiles on tiny JPEG trees."""
import json
import os
import signal
import subprocess
import sys

import numpy as np
from absl.testing import absltest

from famus_tf.train.export import load_serving
from tests.fixtures import REPO, kill_when, run_main
from tests.test_resume import ENV, assert_same_variables

# Warm-up: 1258 // 128 = 9 steps; then 5 co-training iterations of network 1 and 2.
DIGITS = ("--meta_set=pseudo_clean", "--warmup_epochs=1", "--epochs=2", "--max_steps=14",
          "--compare_baseline=false", "--steps_per_call=1", "--checkpoint_every=2",
          "--lambda_u=25", "--num_segments=0")


def serve(path, images):
    out = load_serving(path)(images)
    return out["logits"].numpy(), out["probabilities"].numpy()


class FlagTest(absltest.TestCase):
    """What --meta_set=pseudo_clean accepts and refuses (parsed in process, no run)."""

    def build(self, *args):
        from absl import flags

        import flags as _famus_flags  # noqa: F401
        from famus_tf import main
        f = flags.FLAGS
        f.unparse_flags()
        try:
            f(["famus", f"--flagfile={main.QUICKSTART}", *args])
            return main.build_experiment(f)
        finally:
            f.unparse_flags()
            f.mark_as_parsed()

    def test_accepted_and_refused(self):
        from famus_tf import main
        exp = self.build("--meta_set=pseudo_clean")
        self.assertEqual(exp.data.meta_per_class, 0)  # no clean examples set aside
        self.assertEqual(self.build().data.meta_per_class, 10)  # the default stays meta_set=clean
        for args, needle in ((("--meta_set=pseudo_clean", "--method=mlc"), "--method=mlc"),
                             (("--meta_set=pseudo_clean", "--lr_steps=100"), "--lr_steps"),
                             (("--dataset=cnwl_red", f"--data_dir={self.create_tempdir().full_path}"),
                              "--meta_set=pseudo_clean")):
            with self.assertRaisesRegex(main.FlagError, needle):
                self.build(*args)
        exp = self.build("--dataset=cnwl_red", f"--data_dir={self.create_tempdir().full_path}",
                         "--meta_set=pseudo_clean")
        self.assertEqual(exp.meta.method, "mwnet")


class DigitsTest(absltest.TestCase):

    def assert_ensemble_export(self, model_dir, images):
        logits, probs = serve(os.path.join(model_dir, "export"), images)
        nets = [serve(os.path.join(model_dir, f"export_net{k}"), images)[0] for k in (1, 2)]
        np.testing.assert_allclose(logits, (nets[0] + nets[1]) / 2, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)
        self.assertFalse(np.allclose(nets[0], nets[1]))  # two different networks

    def assert_suspects(self, model_dir):
        """suspects.csv ranks by the ensemble; its clean_prob column is the last split's (mean
        of the two networks'), lower on truly mislabelled examples."""
        from famus_tf.train import suspects
        rows = suspects.read_suspects(os.path.join(model_dir, suspects.FILE))
        self.assertLen(rows, 1258)
        noise = np.load(os.path.join(model_dir, "noisy_labels.npz"))
        wrong = noise["noisy"] != noise["clean"]
        c = np.array([float(r["clean_prob"]) for r in sorted(rows, key=lambda r: int(r["index"]))])
        self.assertTrue(np.all((c >= 0) & (c <= 1)))
        self.assertLess(c[wrong].mean(), c[~wrong].mean())
        self.assertEqual({r["meta_weight"] for r in rows}, {""})  # mixed rows are weighted, not examples

    def test_run_split_statistics_export_and_exact_resume(self):
        straight = self.create_tempdir().full_path
        out = run_main(*DIGITS, f"--model_dir={straight}")
        self.assertEqual(out.returncode, 0, out.stderr[-3000:])
        self.assertIn("Algorithm 2", out.stdout)
        results = json.load(open(os.path.join(straight, "results.json")))
        self.assertEqual(results["steps"], 14)
        self.assertEqual(results["config"]["CotrainConfig"]["meta_set"], "pseudo_clean")
        for net in ("net1", "net2"):
            s = results["split"][net]
            self.assertEqual(s["labeled_size"] + s["unlabeled_size"], 1258)  # no clean set aside
            self.assertEqual(s["meta_size"], s["labeled_size"])  # equal thresholds
            for key in ("labeled_precision", "labeled_recall", "clean_prob_auc"):
                self.assertTrue(0.0 <= s[key] <= 1.0, (net, key, s[key]))
            # the GMM separates clean from noisy after a warm-up epoch better than chance
            self.assertGreater(s["clean_prob_auc"], 0.6)
        self.assertIsNotNone(results["weights"]["clean"])
        from famus_tf.train.summaries import read_tags
        tags = read_tags(os.path.join(straight, "tensorboard"))
        for tag in ("test/top1", "net1/test/top1", "net2/test/top1", "net1/train/loss",
                    "net2/meta/val_loss", "net1/split/labeled_precision", "net2/split/clean_prob_auc",
                    "net1/split/clean_prob_clean", "net1/split/clean_prob_noisy",
                    "net1/weights/clean_mean", "net2/famus/gate_fraction", "split/seconds"):
            self.assertIn(tag, tags)
        from sklearn.datasets import load_digits
        images = np.clip(load_digits().images[:16] * 16, 0, 255).astype(np.uint8)[..., None]
        self.assert_ensemble_export(straight, images)
        self.assert_suspects(straight)

        # SIGKILL in the middle of the co-training epoch (after the split was saved), resume.
        killed = self.create_tempdir().full_path
        cmd = [sys.executable, "-m", "famus_tf.main", *DIGITS, "--export=false",
               f"--model_dir={killed}"]
        proc = subprocess.Popen(cmd, cwd=REPO, env=ENV, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        kill_when(os.path.join(killed, "ckpt-12.index"), proc)
        self.assertEqual(proc.returncode, -signal.SIGKILL)
        done = subprocess.run(cmd, cwd=REPO, env=ENV, capture_output=True, text=True, timeout=600)
        self.assertEqual(done.returncode, 0, done.stderr[-3000:])
        self.assertIn("resumed from", done.stderr)
        assert_same_variables(self, straight, killed)
        resumed = json.load(open(os.path.join(killed, "results.json")))
        self.assertEqual(resumed["variables_sha1"], results["variables_sha1"])
