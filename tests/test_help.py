"""--help of every `python -m famus_tf.*` entry point: the project's flags by group,
with the values the command line runs with (for the driver without --flagfile: those
of launch/quickstart.cfg, what a flagless run uses); absl's own flags stay in
--helpfull."""
import contextlib
import io
import os
import subprocess
import sys

from absl.testing import absltest, flagsaver

from famus_tf import bench, main
from famus_tf.data import check, convert
from tests.fixtures import REPO


def help_of(parse, *args):
    out = io.StringIO()
    with flagsaver.flagsaver(), contextlib.redirect_stdout(out):
        with absltest.TestCase().assertRaises(SystemExit) as cm:
            parse(["prog", *args, "--help"])
    assert cm.exception.code == 0, cm.exception.code
    return out.getvalue()


def shown(text, name):
    """The default --help shows for flag `name`."""
    lines = text.splitlines()
    i = next(k for k, line in enumerate(lines) if line.startswith(f"  --{name}: "))
    return lines[i + 1].strip()[len("(default: "):-1]


class HelpTest(absltest.TestCase):

    def test_driver_help_shows_the_groups_and_the_quickstart_values(self):
        text = help_of(main.parse_flags)
        for title in ("Model flags", "Data flags", "Run flags", "[flags.optim]"):
            self.assertIn(title, text)
        self.assertIn("launch/quickstart.cfg", text)
        quickstart = dict(line.strip()[2:].split("=", 1) for line in open(main.QUICKSTART)
                          if line.startswith("--"))
        for name, value in quickstart.items():
            self.assertEqual(shown(text, name), value, name)
        self.assertEqual(shown(text, "on_nonfinite"), "stop")
        self.assertNotIn("--verbosity", text)  # absl's: --helpfull
        other = help_of(main.parse_flags, "--flagfile=launch/webvision.cfg", "--epochs=3")
        self.assertEqual((shown(other, "epochs"), shown(other, "meta_lr")), ("3", "0.001"))

    def test_every_entry_point_has_a_help(self):
        # (famus_tf.report and famus_tf.study define flags on absl's global flags under
        # names they share: they are asked in processes of their own, as test_report does.)
        for module, flag in ((check, "max_files"), (convert, "output_dir"), (bench, "model")):
            text = help_of(module.parse_flags)
            self.assertIn(f"  --{flag}: ", text, module.__name__)
            self.assertIn(module.__doc__.strip().splitlines()[0], text)

    def test_help_in_a_process_of_its_own(self):
        env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
        # (famus_tf.study's --help takes the same path as famus_tf.report's, which
        # test_report asks in a process.) oneDNN on and off: only the first writes its notice.
        for module, flag in (("famus_tf.data.check", "--dataset"),):
            for onednn in ("1", "0"):
                out = subprocess.run([sys.executable, "-m", module, "--help"], cwd=REPO,
                                     env=dict(env, TF_ENABLE_ONEDNN_OPTS=onednn),
                                     capture_output=True, text=True, timeout=300)
                self.assertEqual(out.returncode, 0, out.stderr[-2000:])
                self.assertIn(f"  {flag}: ", out.stdout)
                # A quiet start: no TensorFlow start-up line (famus_tf/startup.py).
                self.assertEqual(out.stderr, "", (module, onednn))


if __name__ == "__main__":
    absltest.main()
