"""famus_tf/bench_keras.py: the keras_fit row times the same steps of both, reports their ratio."""
import json
import os
import subprocess
import sys

from absl.testing import absltest

from famus_tf import bench_keras

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class BenchKerasTest(absltest.TestCase):

    def test_each_call_trains_the_steps_it_is_timed_for(self):
        """One loop call = S optimizer steps of the program's learner; one fit call = the
        round's steps of the wrapper's (so fit / loop compares equal amounts of work)."""
        spe, steps = 2, 4
        data = bench_keras._data(8, (8, 8, 1), 10, steps)
        loop_call, learner = bench_keras.program_loop("mwnet_famus", "small_cnn", data, 8, 10,
                                                      None, 4, spe)
        sums = loop_call()
        self.assertEqual(int(learner.optimizer.iterations), spe)
        self.assertEqual(int(learner.meta_optimizer.iterations), spe)
        self.assertGreater(sums["loss"], 0.0)
        fit_call, model = bench_keras.keras_fit("mwnet_famus", "small_cnn", data, 8, 10, None, 4,
                                                spe, steps)
        epoch_ms, call_ms = fit_call()
        self.assertEqual(int(model.learner.optimizer.iterations), steps)
        self.assertEqual(int(model.learner.meta_optimizer.iterations), steps)
        self.assertGreater(epoch_ms, 0.0)
        self.assertGreaterEqual(call_ms, epoch_ms)
        # both train the same network from the same seed
        self.assertEqual([v.shape for v in learner.model.trainable_variables],
                         [v.shape for v in model.base_model.trainable_variables])

    def test_row_json_and_refusals(self):
        path = os.path.join(self.create_tempdir().full_path, "keras.json")
        out = subprocess.run(
            [sys.executable, "-m", "famus_tf.bench", "--mode=keras_fit", "--model=small_cnn",
             "--image_size=8", "--channels=1", "--batch_size=8", "--rounds=2", "--warmup=0",
             "--keras_steps_per_execution=2", "--keras_steps=4", "--keras_configs=mwnet",
             f"--output_json={path}"],
            cwd=REPO, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"), capture_output=True,
            text=True, timeout=600)
        self.assertEqual(out.returncode, 0, out.stderr[-3000:])
        self.assertIn("| mwnet |", out.stdout)
        data = json.load(open(path))
        self.assertEqual((data["steps_per_execution"], data["steps_per_round"]), (2, 4))
        self.assertIn("cpu", json.dumps(data["machine"]).lower())
        r = data["results"]["mwnet"]
        self.assertLen(r["loop_times"], 2)
        self.assertLen(r["fit_times"], 2)
        self.assertAlmostEqual(r["fit_to_loop"], r["fit_ms"] / r["loop_ms"])
        self.assertGreater(r["loop_ms"], 0.0)
        # a refused flag: one line in a process, before any timing; the others from run()
        bad = subprocess.run([sys.executable, "-m", "famus_tf.bench", "--mode=keras_fit",
                              "--model=small_cnn", "--image_size=8", "--channels=1",
                              "--keras_configs=nope"],
                             cwd=REPO, capture_output=True, text=True, timeout=300)
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn("keras_configs", bad.stderr.strip().splitlines()[-1])
        self.assertNotIn("Traceback", bad.stderr)
        for kw, flag in [(dict(steps=5, spe=2), "--keras_steps=5"),
                         (dict(names=()), "keras_configs")]:
            with self.assertRaisesRegex(ValueError, flag):
                bench_keras.run(**kw, log=lambda *_: None)


if __name__ == "__main__":
    absltest.main()
