"""Failures a user can cause or meet end in one line naming the cause, with the
documented exit code, and a refused run writes nothing (issue: sturdy at the edges).
The driver runs in this process (tests/fixtures.run_main_in_process)."""
import os
import pickle
from unittest import mock

import numpy as np
import tensorflow as tf
from absl.testing import absltest

from famus_tf.data import check, cifar, noise
from tests.fixtures import run_main_in_process
from tests.test_cifar import write_batches

TINY = ["--flagfile=launch/quickstart.cfg", "--epochs=1", "--compare_baseline=false",
        "--profile_split=false", "--export=false"]


class _CallsAFunction:
    """Pickles as a call of os.system: what a crafted data file could ask pickle to run."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class EdgeTest(absltest.TestCase):

    def assert_one_line(self, code, stderr, expected_code, *needles):
        self.assertEqual(code, expected_code, stderr[-2000:])
        self.assertEqual(len(stderr.strip().splitlines()), 1, stderr)
        self.assertTrue(stderr.startswith("famus_tf.main: error: "), stderr)
        for needle in needles:
            self.assertIn(needle, stderr)

    def test_broken_cifar_batches_are_named_and_a_pickle_cannot_run_code(self):
        root = self.create_tempdir().full_path
        d = write_batches(root, "cifar10")
        path = os.path.join(d, "data_batch_1")
        good = open(path, "rb").read()
        marker = os.path.join(root, "ran")
        cases = {"truncated": good[: len(good) // 2], "empty": b"", "garbage": b"\x00garbage" * 40,
                 "calls a function": pickle.dumps({b"data": _CallsAFunction(marker)}, protocol=2),
                 "not a batch": pickle.dumps([1, 2, 3], protocol=2)}
        needles = {"truncated": "truncated", "empty": "truncated or empty", "garbage": path,
                   "calls a function": "system", "not a batch": "not a CIFAR python batch"}
        for case, content in cases.items():
            with open(path, "wb") as fh:
                fh.write(content)
            with self.assertRaises(ValueError, msg=case) as cm:
                cifar.load_cifar("cifar10", root)
            message = str(cm.exception)
            self.assertTrue(message.startswith(path), (case, message))
            self.assertIn(needles[case], message, case)
            self.assertNotIn("\n", message, case)
            lines = []
            self.assertEqual(check.check("cifar10", root, out=lines.append), 1, case)
            self.assertEqual(lines, [f"ERROR {message}"], case)
        self.assertFalse(os.path.exists(marker))  # os.system was never called
        model_dir = os.path.join(root, "run")
        code, stderr = run_main_in_process(*TINY, "--dataset=cifar10", f"--data_dir={root}",
                                           f"--model_dir={model_dir}")
        self.assert_one_line(code, stderr, 2, path, "not a CIFAR python batch")  # the last case
        self.assertFalse(os.path.exists(model_dir))

    def test_npz_files_are_read_without_pickle_and_a_missing_key_is_named(self):
        root = self.create_tempdir().full_path
        wrong_key = os.path.join(root, "labels.npz")
        np.savez(wrong_key, labels=np.zeros(5, np.int64))
        objects = os.path.join(root, "objects.npz")
        np.savez(objects, noisy=np.array([1, "a", None], dtype=object))
        with self.assertRaisesRegex(ValueError, r"labels.npz: no array 'noisy'.*has \['labels'\]"):
            noise.load_noise_file(wrong_key)
        with self.assertRaisesRegex(ValueError, "objects.npz: .*allow_pickle"):
            noise.load_noise_file(objects)
        model_dir = os.path.join(root, "run")
        code, stderr = run_main_in_process(*TINY, "--noise_type=file", f"--noise_file={wrong_key}",
                                           f"--model_dir={model_dir}")
        self.assert_one_line(code, stderr, 2, "labels.npz", "'noisy'")
        self.assertFalse(os.path.exists(model_dir))
        from absl import flags
        self.assertIn("'noisy'", flags.FLAGS["noise_file"].help)

    def test_refusals_before_any_work_write_nothing(self):
        root = self.create_tempdir().full_path
        model_dir = os.path.join(root, "run")
        code, stderr = run_main_in_process(*TINY, "--batch_size=5000", f"--model_dir={model_dir}")
        self.assert_one_line(code, stderr, 2, "--batch_size=5000", "training set")
        code, stderr = run_main_in_process(*TINY, "--export_only", f"--model_dir={model_dir}")
        self.assert_one_line(code, stderr, 2, "--export_only", "no checkpoint")
        self.assertFalse(os.path.exists(model_dir))
        a_file = os.path.join(root, "a_file")
        open(a_file, "w").close()
        code, stderr = run_main_in_process(*TINY, f"--model_dir={a_file}")
        self.assert_one_line(code, stderr, 2, "--model_dir", "is a file")
        code, stderr = run_main_in_process(*TINY, f"--model_dir={a_file}/run")
        self.assert_one_line(code, stderr, 2, "--model_dir", f"{a_file} is a file")
        real_access = os.access
        with mock.patch("os.access", lambda p, m: False if p == root else real_access(p, m)):
            code, stderr = run_main_in_process(*TINY, f"--model_dir={model_dir}")
        self.assert_one_line(code, stderr, 2, "--model_dir", "not writable")
        self.assertEqual(sorted(os.listdir(root)), ["a_file"])

    def test_disk_full_while_saving_ends_in_one_line_and_keeps_the_last_checkpoint(self):
        model_dir = self.create_tempdir().full_path
        real_save = tf.train.CheckpointManager.save

        def save(manager, checkpoint_number=None, **kw):
            if checkpoint_number == 4:
                os.makedirs(os.path.join(manager.directory, "ckpt-4_temp"))
                raise tf.errors.ResourceExhaustedError(
                    None, None, "{{function_node __wrapped__SaveV2}} ckpt-4_temp/part-0; "
                    "No space left on device [Op:SaveV2]")
            return real_save(manager, checkpoint_number=checkpoint_number, **kw)

        with mock.patch.object(tf.train.CheckpointManager, "save", save):
            code, stderr = run_main_in_process(*TINY, "--method=plain", "--max_steps=6",
                                               "--steps_per_call=2", "--checkpoint_every=2",
                                               f"--model_dir={model_dir}")
        self.assert_one_line(code, stderr, 1, "step 4", "No space left on device",
                             os.path.join(model_dir, "ckpt-2"))
        self.assertNotIn("function_node", stderr)
        self.assertEqual(tf.train.latest_checkpoint(model_dir), os.path.join(model_dir, "ckpt-2"))
        self.assertFalse(os.path.exists(os.path.join(model_dir, "ckpt-4_temp")))


if __name__ == "__main__":
    absltest.main()
