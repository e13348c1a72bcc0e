"""famus_tf/startup.py: TensorFlow's pre-initialisation lines are dropped from fd 2,
every other line passes; the log level and --verbosity decide whether to filter."""
import os
import subprocess
import sys
import tempfile

from absl.testing import absltest

import tensorflow  # noqa: F401  (loaded, so quiet() installs no import filter in this process)

from famus_tf import startup

PREINIT = b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
NO_DRIVER = (b"I0000 00:00:1795695565.091015   32210 cudart_stub.cc:31] Could not find cuda "
             b"drivers on your machine, GPU will not be used.\n")
CUINIT = (b"E0000 00:00:1795695615.232042     931 cuda_platform.cc:52] failed call to cuInit: "
          b"INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)\n")
ONEDNN = (b"I0000 00:00:1796528115.479048    2929 port.cc:153] oneDNN custom operations are on. "
          b"You may see slightly different numerical results due to floating-point round-off "
          b"errors from different computation orders. To turn them off, set the environment "
          b"variable `TF_ENABLE_ONEDNN_OPTS=0`.\n")
REAL = b"E0000 00:00:1795695615.3     931 some_kernel.cc:12] a real error\n"


def through_filter(*chunks):
    """What reaches fd 2 when `chunks` are written to it inside a LineFilter."""
    with tempfile.TemporaryFile() as sink:
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            line_filter = startup.LineFilter()
            line_filter.start()
            for chunk in chunks:
                os.write(2, chunk)
            line_filter.stop()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        sink.seek(0)
        return sink.read(), line_filter.dropped


class LineFilterTest(absltest.TestCase):

    def test_known_lines_are_dropped_and_the_rest_passes_in_order(self):
        out, dropped = through_filter(PREINIT, ONEDNN, NO_DRIVER, b"python warning\n", PREINIT,
                                      ONEDNN, NO_DRIVER, CUINIT, REAL, b"partial ", b"line\n",
                                      b"no newline")
        self.assertEqual(out, b"python warning\n" + REAL + b"partial line\nno newline")
        self.assertLen(dropped, 7)

    def test_cuinit_failing_is_kept_where_a_driver_was_found(self):
        out, dropped = through_filter(PREINIT, CUINIT, REAL)
        self.assertEqual(out, CUINIT + REAL)
        self.assertLen(dropped, 1)


class QuietTest(absltest.TestCase):

    def test_verbosity_on_the_command_line(self):
        self.assertEqual(startup.verbosity(["-m", "--epochs=1"]), 0)
        self.assertEqual(startup.verbosity(["-m", "--verbosity=2"]), 2)
        self.assertEqual(startup.verbosity(["-m", "-v", "1"]), 1)
        self.assertEqual(startup.verbosity(["-m", "--verbosity=debug"]), 1)
        self.assertEqual(startup.verbosity(["-m", "--verbosity=warning"]), -1)

    def test_level_set_unless_the_user_or_verbosity_did(self):
        env = {}
        startup.quiet(["-m"], env)  # tensorflow is loaded here: no filter, the level still set
        self.assertEqual(env, {"TF_CPP_MIN_LOG_LEVEL": "1"})
        env = {"TF_CPP_MIN_LOG_LEVEL": "3"}
        startup.quiet(["-m"], env)
        self.assertEqual(env, {"TF_CPP_MIN_LOG_LEVEL": "3"})
        env = {}
        self.assertIsNone(startup.quiet(["-m", "--verbosity=1"], env))
        self.assertEqual(env, {"TF_CPP_MIN_LOG_LEVEL": "0"})


class ProcessTest(absltest.TestCase):

    def test_verbosity_shows_the_start_up_lines_again(self):
        env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
        out = subprocess.run([sys.executable, "-m", "famus_tf.main", "--noise_rate=1.5", "--verbosity=1"],
                             cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                             env=dict(env, TF_ENABLE_ONEDNN_OPTS="1"), capture_output=True,
                             text=True, timeout=300)
        self.assertEqual(out.returncode, 2, out.stderr[-2000:])  # refused: --noise_rate
        self.assertIn("oneDNN custom operations are on", out.stderr)
        self.assertIn("All log messages before absl::InitializeLog()", out.stderr)


if __name__ == "__main__":
    absltest.main()
