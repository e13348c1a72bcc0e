"""results.json built from a run's TensorBoard events: a run killed and resumed (two
event files, a step written twice), checked against values computed here."""
import json
import os
import time

from absl.testing import absltest

from famus_tf.train import results as run_results
from famus_tf.train.summaries import Summaries


class ResultsFileTest(absltest.TestCase):

    def test_best_ms_per_step_weights_and_wall_from_two_processes(self):
        model_dir = self.create_tempdir().full_path
        with open(os.path.join(model_dir, "config.json"), "w") as fh:
            json.dump({"RunConfig": {"seed": 3}}, fh)
        logdir = os.path.join(model_dir, "tensorboard")
        t0 = time.time()
        # The first process: calls of 2 steps, an epoch ending at step 4, killed at step 6.
        first = Summaries(logdir)
        first.scalars(2, {"train/ms_per_step": 100.0})
        first.scalars(4, {"train/ms_per_step": 50.0})
        first.scalars(4, {"test/top1": 0.5, "test/top5": 0.8, "extra/top1": 0.35, "extra/top5": 0.9,
                          "weights/clean_mean": 0.02, "weights/noisy_mean": 0.01})
        time.sleep(0.3)
        first.scalars(6, {"train/ms_per_step": 999.0})  # lost with the kill, then run again
        first.close()
        time.sleep(1.1)  # the second process starts later (its event file sorts after)
        second = Summaries(logdir)
        second.scalars(6, {"train/ms_per_step": 60.0})
        second.scalars(8, {"train/ms_per_step": 40.0})
        time.sleep(0.3)
        second.scalars(8, {"test/top1": 0.45, "test/top5": 0.85, "extra/top1": 0.3, "extra/top5": 0.95,
                           "weights/clean_mean": 0.025, "weights/noisy_mean": 0.004})
        second.close()
        elapsed = time.time() - t0
        final = {"top1": 0.45, "top5": 0.85, "loss": 1.5, "best_top1": 0.5, "steps": 8,
                 "variables_sha1": "abc", "extra": {"top1": 0.3, "top5": 0.95, "loss": 2.0},
                 "history": [{"top1": 0.5}], "tensorboard": logdir}
        run_results.write_run(model_dir, final, realised_noise_rate=0.36)
        res = run_results.load(model_dir)
        self.assertTrue(run_results.is_finished(model_dir))
        self.assertEqual(res["config"], {"RunConfig": {"seed": 3}})
        self.assertEqual(res["steps"], 8)
        self.assertEqual(res["tests"]["test"], {"last_top1": 0.45, "last_top5": 0.85, "last_loss": 1.5,
                                                "best_top1": 0.5, "best_top5": 0.85})
        # best of the extra set from the epoch at step 4 (logged as float32).
        extra = dict(res["tests"]["extra"])
        self.assertAlmostEqual(extra.pop("best_top1"), 0.35, places=6)
        self.assertEqual(extra, {"last_top1": 0.3, "last_top5": 0.95, "last_loss": 2.0, "best_top5": 0.95})
        # Each call weighted by its steps; step 6 counts the resumed process's value.
        self.assertAlmostEqual(res["ms_per_step"], (100 * 2 + 50 * 2 + 60 * 2 + 40 * 2) / 8)
        self.assertAlmostEqual(res["weights"]["clean"], 0.025, places=6)
        self.assertAlmostEqual(res["weights"]["noisy"], 0.004, places=6)
        # Both processes' spans (>= 0.3 s each), not the 1.1 s between them.
        self.assertGreaterEqual(res["wall_seconds"], 0.6)
        self.assertLess(res["wall_seconds"], elapsed - 1.0)
        self.assertEqual(res["realised_noise_rate"], 0.36)
        self.assertNotIn("history", res)
        # A process that failed: recorded, not finished.
        run_results.write_failure(model_dir, 1, "boom")
        self.assertFalse(run_results.is_finished(model_dir))
        self.assertEqual(run_results.load(model_dir), {"status": "failed", "exit_code": 1, "error": "boom"})


if __name__ == "__main__":
    absltest.main()
