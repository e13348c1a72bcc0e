"""famus_tf/startup.py: TensorFlow's pre-initialisation lines are dropped from fd 2,
every other line passes; the log level and --verbosity decide whether to filter."""
import os
import tempfile

from absl.testing import absltest

import tensorflow  # noqa: F401  (loaded, so quiet() installs no import filter in this process)

from famus_tf import startup

PREINIT = b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
NO_DRIVER = (b"I0000 00:00:1795695565.091015   32210 cudart_stub.cc:31] Could not find cuda "
             b"drivers on your machine, GPU will not be used.\n")
CUINIT = (b"E0000 00:00:1795695615.232042     931 cuda_platform.cc:52] failed call to cuInit: "
          b"INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)\n")
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
        out, dropped = through_filter(PREINIT, NO_DRIVER, b"python warning\n", PREINIT,
                                      NO_DRIVER, CUINIT, REAL, b"partial ", b"line\n", b"no newline")
        self.assertEqual(out, b"python warning\n" + REAL + b"partial line\nno newline")
        self.assertLen(dropped, 5)

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


if __name__ == "__main__":
    absltest.main()
