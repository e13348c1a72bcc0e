"""Every loader and writer a user reaches, given a bad file or directory, ends in one
line naming it with exit code 2 before any work (the audit of issue 12, second part):
binary and mis-encoded text files, .npy noise files, ragged transition matrices,
flagfiles that are not text, weights files of another format, model directories with a
file where the run writes a directory, unreadable config.json, damaged checkpoints,
output directories under a file. In process: the loaders directly, the driver through
tests/fixtures.run_main_in_process."""
import contextlib
import io
import os

import keras
import numpy as np
import tensorflow as tf
from absl import flags
from absl.testing import absltest

from famus_tf import cli, main
from famus_tf.data import lists, noise, own
from famus_tf.train import checkpoint
from tests.fixtures import run_main_in_process
from tests.test_edges import TINY


class LoaderTest(absltest.TestCase):

    def setUp(self):
        super().setUp()
        self.root = self.create_tempdir().full_path

    def file(self, name, data):
        path = os.path.join(self.root, name)
        with open(path, "wb" if isinstance(data, bytes) else "w") as fh:
            fh.write(data)
        return path

    def test_noise_files_npy_binary_and_mis_encoded(self):
        labels = os.path.join(self.root, "labels.npy")
        np.save(labels, np.array([3, 1, 2], np.int32))
        noisy, clean = noise.load_noise_file(labels, num_classes=4)
        np.testing.assert_array_equal(noisy, [3, 1, 2])
        self.assertIsNone(clean)
        objects = os.path.join(self.root, "objects.npy")
        np.save(objects, np.array([{"a": 1}], dtype=object))
        with self.assertRaisesRegex(ValueError, "objects.npy: not a readable .npy .*allow_pickle"):
            noise.load_noise_file(objects)  # never unpickled
        floats = os.path.join(self.root, "floats.npy")
        np.save(floats, np.zeros((2, 2)))
        with self.assertRaisesRegex(ValueError, r"floats.npy: the array must be 1-D integer"):
            noise.load_noise_file(floats)
        latin = self.file("latin.txt", b"1\n2\n\xff\xfe\n")
        with self.assertRaisesRegex(ValueError, r"latin.txt: not UTF-8 text .*one integer label"):
            noise.load_noise_file(latin)

    def test_text_files_that_are_not_text_are_named(self):
        binary = self.file("list.txt", np.arange(40, dtype=np.int64).tobytes() + b"\xff")
        with self.assertRaisesRegex(ValueError, r"list.txt: not UTF-8 text .*'<image path> <label>'"):
            lists.read_lines(binary, "--train_list file")
        with self.assertRaisesRegex(ValueError, r"list.txt: not UTF-8 text .*class names"):
            own.read_class_names(binary)
        with self.assertRaisesRegex(ValueError, "--noise_transition: row 2 has 1 entries, row 1 has 2"):
            noise.parse_transition("1,0;0")
        with self.assertRaisesRegex(ValueError, "--noise_transition: must be 3x3"):
            noise.check_transition(noise.parse_transition("1,0;0,1"), 3)

    def test_a_flagfile_that_is_not_text(self):
        bad = self.file("run.cfg", b"\xff\xfe--epochs=1\n")
        fv = flags.FlagValues()
        flags.DEFINE_integer("epochs", 1, "", flag_values=fv)
        err = io.StringIO()
        with contextlib.redirect_stderr(err), self.assertRaises(SystemExit) as cm:
            cli.flags_parser("prog", fv)(["prog", f"--flagfile={bad}"])
        self.assertEqual(cm.exception.code, 2)
        self.assertEqual(err.getvalue(), f"prog: error: --flagfile: {bad}: not UTF-8 text "
                                         "(invalid start byte); a flagfile holds one --flag=value per line\n")

    def test_weights_files_of_another_format(self):
        good = os.path.join(self.root, "net.weights.h5")
        keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]).save_weights(good)
        main._check_weights_file(good)  # accepted
        for name, data, needle in (("net.txt", b"x", "not a Keras weights file"),
                                   ("cut.weights.h5", b"\x89HD", r"not a \.weights\.h5 file"),
                                   ("zip.h5", b"PK\x03\x04....", r"not a \.h5 file")):
            with self.assertRaisesRegex(main.FlagError, f"--weights_path: .*{name} is {needle}"):
                main._check_weights_file(self.file(name, data))

    def test_output_directories_that_cannot_be_made(self):
        a_file = self.file("a_file", "x")
        self.assertIsNone(cli.unwritable_dir(os.path.join(self.root, "new", "dir"), "--root"))
        self.assertEqual(cli.unwritable_dir(a_file, "--root"), f"--root: {a_file} is a file, not a directory")
        self.assertIn(f"{a_file} is a file", cli.unwritable_dir(a_file + "/x", "--output_dir"))
        from famus_tf.data import convert
        problem = convert.validate(_ConvertFlags(self.root, a_file + "/out"))
        self.assertEqual(problem, f"--output_dir: {a_file}/out cannot be created: {a_file} is a file")
        # bench's --output_json, report's and study's --csv: checked before any work
        self.assertIsNone(cli.unwritable_file(os.path.join(self.root, "b.json"), "--csv"))
        self.assertIsNone(cli.unwritable_file(None, "--csv"))
        self.assertEqual(cli.unwritable_file(self.root, "--csv"), f"--csv: {self.root} is a directory")
        self.assertEqual(cli.unwritable_file(f"{a_file}/b.json", "--output_json"),
                         f"--output_json: {a_file} is not a directory")


class _ConvertFlags:
    def __init__(self, data_dir, output_dir):
        self.dataset, self.data_dir, self.output_dir = "clothing1m", data_dir, output_dir
        self.num_shards, self.quality = 0, 95


class ModelDirTest(absltest.TestCase):

    def assert_one_line(self, code, stderr, *needles):
        self.assertEqual(code, 2, stderr[-2000:])
        self.assertEqual(len(stderr.strip().splitlines()), 1, stderr)
        for needle in needles:
            self.assertIn(needle, stderr)

    def test_a_file_where_the_run_writes_a_directory(self):
        model_dir = self.create_tempdir().full_path
        for sub in ("tensorboard", "export"):
            path = os.path.join(model_dir, sub)
            open(path, "w").close()
            code, stderr = run_main_in_process(*TINY, f"--model_dir={model_dir}")
            self.assert_one_line(code, stderr, f"{path} is a file where the run writes")
            os.remove(path)
        self.assertEqual(os.listdir(model_dir), [])

    def test_unreadable_config_and_damaged_checkpoints(self):
        model_dir = self.create_tempdir().full_path
        v = tf.Variable(np.arange(1000, dtype=np.float32))
        mgr = tf.train.CheckpointManager(tf.train.Checkpoint(v=v), model_dir, max_to_keep=2)
        path = mgr.save()
        with open(os.path.join(model_dir, "config.json"), "w") as fh:
            fh.write("{not json")
        with self.assertRaisesRegex(checkpoint.ConfigMismatch, "config.json is not readable JSON"):
            checkpoint.check_and_write_config(model_dir, {"run": {}})
        for suffix in (".index", ".data-00000-of-00001"):
            with open(path + suffix, "rb") as fh:
                good = fh.read()
            with open(path + suffix, "wb") as fh:
                fh.write(good[:len(good) // 2])
            with self.assertRaisesRegex(checkpoint.Unrestorable, f"cannot restore the checkpoint {path}: "):
                checkpoint.manager(model_dir, 2, v=tf.Variable(np.zeros(1000, np.float32)))
            with open(path + suffix, "wb") as fh:
                fh.write(good)
        restored = tf.Variable(np.zeros(1000, np.float32))
        checkpoint.manager(model_dir, 2, v=restored)
        np.testing.assert_array_equal(restored.numpy(), v.numpy())
        code, message = main.classify(checkpoint.Unrestorable("x"), None, True)
        self.assertEqual((code, message), (main.BAD_INPUT, "x"))
        with open(os.path.join(model_dir, "checkpoint"), "wb") as fh:
            fh.write(b"\x00garbage")  # the checkpoint files are there, the file naming them is not
        code, stderr = run_main_in_process(*TINY, f"--model_dir={model_dir}")
        self.assert_one_line(code, stderr, "holds checkpoint files (ckpt-*) but no readable file")


if __name__ == "__main__":
    absltest.main()
