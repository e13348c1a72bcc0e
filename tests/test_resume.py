"""A run killed with SIGKILL part-way resumes from its last checkpoint and ends with
exactly the variables of an uninterrupted run (separate processes, as in real life)."""
import os
import signal
import subprocess
import sys

import numpy as np
import tensorflow as tf
from absl.testing import absltest

from tests.fixtures import kill_when

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARGS = ["-m", "famus_tf.main", "--flagfile=launch/quickstart.cfg", "--epochs=2",
        "--compare_baseline=false", "--export=false", "--profile_split=false", "--steps_per_call=1",
        "--checkpoint_every=5"]


def command(model_dir):
    return [sys.executable, *ARGS, f"--model_dir={model_dir}"]


ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")


def final_variables(model_dir):
    """Every numeric tensor of the latest checkpoint (the iterator state is a variant)."""
    path = tf.train.latest_checkpoint(model_dir)
    reader = tf.train.load_checkpoint(path)
    dtypes = reader.get_variable_to_dtype_map()
    return {n: reader.get_tensor(n) for n, d in dtypes.items()
            if d not in (tf.variant, tf.resource) and "save_counter" not in n
            and not n.startswith("_CHECKPOINTABLE")}


def assert_same_variables(test, dir_a, dir_b):
    """The latest checkpoints of two runs hold exactly the same numeric tensors."""
    a, b = final_variables(dir_a), final_variables(dir_b)
    test.assertEqual(sorted(a), sorted(b))
    test.assertGreater(len(a), 20)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


class ResumeTest(absltest.TestCase):

    def test_sigkill_then_resume_matches_uninterrupted_run(self):
        straight = self.create_tempdir().full_path
        killed = self.create_tempdir().full_path
        done = subprocess.run(command(straight), cwd=REPO, env=ENV, capture_output=True, text=True,
                              timeout=600)
        self.assertEqual(done.returncode, 0, done.stderr[-3000:])

        proc = subprocess.Popen(command(killed), cwd=REPO, env=ENV, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        kill_when(os.path.join(killed, "ckpt-10.index"), proc)
        self.assertEqual(proc.returncode, -signal.SIGKILL)
        interrupted_at = tf.train.latest_checkpoint(killed)
        self.assertIsNotNone(interrupted_at)

        resumed = subprocess.run(command(killed), cwd=REPO, env=ENV, capture_output=True, text=True,
                                 timeout=600)
        self.assertEqual(resumed.returncode, 0, resumed.stderr[-3000:])
        self.assertIn("resumed from", resumed.stderr)

        assert_same_variables(self, straight, killed)
        # TensorBoard continues the series: no step written twice, the same values.
        from famus_tf.train.summaries import read_scalars
        losses = read_scalars(os.path.join(killed, "tensorboard"))["train/loss"]
        self.assertEqual(losses, read_scalars(os.path.join(straight, "tensorboard"))["train/loss"])
        self.assertEqual([s for s, _ in losses], list(range(1, 37)))


if __name__ == "__main__":
    absltest.main()
