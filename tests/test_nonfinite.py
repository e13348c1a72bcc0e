"""The non-finite guard (famus_tf/train/nonfinite.py): in the graph, the check names the
first bad quantity and skip mode restores every variable and optimizer slot; end to
end, a diverging run stops with one line and exit code 1, keeps its good checkpoints,
exports nothing, and the same command with --on_nonfinite=skip resumes and skips; the
same for Algorithm 2's two-network loops (--meta_set=pseudo_clean)."""
import glob
import json
import os
import re

import keras
import numpy as np
import tensorflow as tf
from absl.testing import absltest

from famus_tf.train import nonfinite
from famus_tf.train.summaries import read_scalars
from tests.fixtures import run_main_in_process
from tests.test_resume import final_variables

TINY = ["--flagfile=launch/quickstart.cfg", "--epochs=1", "--compare_baseline=false",
        "--profile_split=false", "--steps_per_call=4"]


class GuardTest(absltest.TestCase):

    def test_codes_name_the_first_bad_quantity_and_skip_restores_the_state(self):
        w = keras.Variable(np.ones(3, np.float32), name="w")
        opt = keras.optimizers.SGD(0.1, momentum=0.9)
        opt.build([w])
        guard = nonfinite.Guard("skip", ["loss", "accuracy", "val_loss"],
                                [("base network update", [w])], nonfinite.state_variables([[w], opt]))
        self.assertEqual(guard.quantities, ["training loss", "meta (validation) loss",
                                            "base network update"])

        @tf.function(autograph=False)
        def step(grad, loss, val_loss):
            snap = guard.snapshot()
            opt.apply([grad], [w])
            code = guard.check({"loss": loss, "accuracy": tf.constant(np.nan), "val_loss": val_loss})
            with tf.control_dependencies([guard.undo(code, snap)]):
                return tf.identity(code)

        one = tf.ones(3)
        self.assertEqual(int(step(one, 1.0, 1.0)), 0)  # a good step is applied
        w_good, slots_good = w.numpy(), [v.numpy() for v in opt.variables if v is not opt.iterations]
        self.assertFalse(np.allclose(w_good, 1.0))
        self.assertEqual(int(step(one, np.nan, 1.0)), 1)  # accuracy is not checked
        self.assertEqual(int(step(one, 1.0, np.inf)), 2)
        self.assertEqual(int(step(one * np.inf, 1.0, 1.0)), 3)
        np.testing.assert_array_equal(w.numpy(), w_good)  # the three bad steps were undone
        for v, good in zip([v for v in opt.variables if v is not opt.iterations], slots_good):
            np.testing.assert_array_equal(v.numpy(), good)
        self.assertEqual(int(opt.iterations.numpy()), 4)  # the step counter advances
        with self.assertRaisesRegex(nonfinite.NonFinite, "non-finite sampler loss at step 13"):
            nonfinite.Guard("stop", ["loss_r"], []).after_call(2, 1, 10)
        nonfinite.Guard("stop", ["loss_r"], []).after_call(-1, 0, 10)  # nothing bad: no error


# Algorithm 2 on the digits: a warm-up epoch of 1258 // 128 = 9 iterations, then co-training.
COTRAIN = ["--flagfile=launch/quickstart.cfg", "--meta_set=pseudo_clean", "--warmup_epochs=1",
           "--epochs=2", "--compare_baseline=false", "--profile_split=false", "--num_segments=0",
           "--famus=false", "--steps_per_call=4", "--export=false"]


class _Stopped(absltest.TestCase):

    def assert_stopped(self, code, stderr, model_dir):
        self.assertEqual(code, 1, stderr[-2000:])
        self.assertEqual(len(stderr.strip().splitlines()), 1, stderr)
        self.assertRegex(stderr, r"^famus_tf.main: error: non-finite .* at step \d+; stopped")
        self.assertFalse(os.path.exists(os.path.join(model_dir, "export")))
        self.assertFalse(os.path.exists(os.path.join(model_dir, "results.json")))


class DivergingRunTest(_Stopped):

    def test_plain_with_a_huge_lr_stops_at_once(self):
        model_dir = self.create_tempdir().full_path
        code, stderr = run_main_in_process(*TINY, "--method=plain", "--lr=1e6",
                                           f"--model_dir={model_dir}")
        self.assert_stopped(code, stderr, model_dir)
        self.assertEqual(glob.glob(os.path.join(model_dir, "ckpt-*")), [])

    def test_mwnet_stops_keeps_good_checkpoints_and_resumes_skipping(self):
        model_dir = self.create_tempdir().full_path
        # lr 0.1 for steps 1-4, then 1e29: the first step at the huge rate is non-finite.
        # (MW-Net without FaMUS: the guard is the same, the graph compiles twice as fast.)
        args = TINY + ["--method=mwnet", "--famus=false", "--max_steps=8", "--checkpoint_every=2", "--lr_steps=4",
                       "--lr_decay=1e30", "--lr_epochs=", f"--model_dir={model_dir}"]
        code, stderr = run_main_in_process(*args)
        self.assert_stopped(code, stderr, model_dir)
        self.assertIn("at step 5;", stderr)
        self.assertEqual(tf.train.latest_checkpoint(model_dir), os.path.join(model_dir, "ckpt-4"))
        good = final_variables(model_dir)
        for name, value in good.items():
            self.assertTrue(np.isfinite(value).all(), name)

        code, stderr = run_main_in_process(*args, "--on_nonfinite=skip", "--export=false")
        self.assertEqual(code, 0, stderr[-2000:])
        self.assertEqual(tf.train.latest_checkpoint(model_dir), os.path.join(model_dir, "ckpt-8"))
        after = final_variables(model_dir)
        # Steps 5-8 were all skipped: every variable and optimizer slot is as at step 4.
        moved = {"iteration", "save_counter", "nonfinite_skipped", "iterator", "best_top1"}
        for name, value in good.items():
            if not any(m in name for m in moved):
                np.testing.assert_array_equal(after[name], value, err_msg=name)
        skipped = read_scalars(os.path.join(model_dir, "tensorboard"))["train/nonfinite_skipped"]
        self.assertEqual(skipped[-1], (8, 4.0))
        results = json.load(open(os.path.join(model_dir, "results.json")))
        self.assertEqual(results["steps"], 8)


class DivergingCoTrainingTest(_Stopped):
    """The guard of the two-network loops: one check over both networks per iteration."""

    def test_warmup_with_a_huge_lr_stops_at_once(self):
        model_dir = self.create_tempdir().full_path
        code, stderr = run_main_in_process(*COTRAIN, "--lr=1e6", "--max_steps=4",
                                           f"--model_dir={model_dir}")
        self.assert_stopped(code, stderr, model_dir)
        self.assertRegex(stderr, r"non-finite network [12]'s ")
        self.assertEqual(glob.glob(os.path.join(model_dir, "ckpt-*")), [])

    def test_cotraining_stops_keeps_good_checkpoints_and_resumes_skipping(self):
        model_dir = self.create_tempdir().full_path
        # lr 0.1 in the warm-up epoch (steps 1-9), 1e29 from the co-training epoch on.
        args = COTRAIN + ["--max_steps=12", "--checkpoint_every=3", "--lr_epochs=0",
                          "--lr_decay=1e30", f"--model_dir={model_dir}"]
        code, stderr = run_main_in_process(*args)
        self.assert_stopped(code, stderr, model_dir)
        step = int(re.search(r"at step (\d+);", stderr).group(1))
        self.assertIn(step, (10, 11, 12))
        self.assertEqual(tf.train.latest_checkpoint(model_dir), os.path.join(model_dir, "ckpt-9"))
        for name, value in final_variables(model_dir).items():
            self.assertTrue(np.isfinite(value).all(), name)

        code, stderr = run_main_in_process(*args, "--on_nonfinite=skip")
        self.assertEqual(code, 0, stderr[-2000:])
        self.assertEqual(tf.train.latest_checkpoint(model_dir), os.path.join(model_dir, "ckpt-12"))
        after = final_variables(model_dir)
        for name, value in after.items():
            self.assertTrue(np.isfinite(value).all(), name)
        skipped = read_scalars(os.path.join(model_dir, "tensorboard"))["train/nonfinite_skipped"]
        self.assertEqual(skipped[-1][0], 12)
        # the stopped step and every later one at the huge rate are skipped
        self.assertEqual(skipped[-1][1], 13 - step)
        counter = [v for name, v in after.items() if "nonfinite_skipped" in name]
        self.assertEqual([int(v) for v in counter], [13 - step])
        self.assertEqual(json.load(open(os.path.join(model_dir, "results.json")))["steps"], 12)


if __name__ == "__main__":
    absltest.main()
