"""A quiet start for the `python -m famus_tf.*` entry points.

TensorFlow's C++ logging is set to warnings and above (`TF_CPP_MIN_LOG_LEVEL=1`) unless
the user set `TF_CPP_MIN_LOG_LEVEL` or asked for `--verbosity=1` (debug) or more. That
variable does not reach the lines TensorFlow 2.21 writes through C++ absl before
`absl::InitializeLog()` runs, once for each of its two shared libraries: absl's own
notice "All log messages before absl::InitializeLog() ...", `cudart_stub.cc` "Could not
find cuda drivers", `port.cc` "oneDNN custom operations are on ..." (where TensorFlow
turns its oneDNN kernels on: by default on x86 CPUs with AVX512_VNNI, AVX512_BF16 or AMX,
anywhere with TF_ENABLE_ONEDNN_OPTS=1), and, when there is no driver, `cuda_platform.cc`
"failed call to cuInit" (an E line that the first device listing writes). Those known lines, and only
those, are dropped from file descriptor 2 while `import tensorflow` and that first
listing run (a pipe read by a thread passes every other line through as it comes).
The window closes when the import ends; the rest of the run writes to stderr directly.
`TF_CPP_MIN_LOG_LEVEL=0` or `--verbosity=1` shows them all.
"""
import importlib.abc
import importlib.util
import os
import re
import sys
import threading

LEVEL_NAMES = {"debug": 1, "info": 0, "warning": -1, "error": -2, "fatal": -3}
_PREINIT = re.compile(rb"^WARNING: All log messages before absl::InitializeLog\(\) is called "
                      rb"are written to STDERR\s*$")
_NO_DRIVER = re.compile(rb"^I\d{4} [\d:. ]+ \d+ cudart_stub\.cc:\d+\] Could not find cuda drivers "
                        rb"on your machine, GPU will not be used\.\s*$")
_ONEDNN = re.compile(rb"^I\d{4} [\d:. ]+ \d+ port\.cc:\d+\] oneDNN custom operations are on\. ")
_CUINIT = re.compile(rb"^E\d{4} [\d:. ]+ \d+ cuda_platform\.cc:\d+\] failed call to cuInit: ")


def verbosity(argv):
    """The absl --verbosity (-v) the command line asks for (0 when it asks none)."""
    value = None
    for i, arg in enumerate(argv):
        for name in ("--verbosity", "-verbosity", "-v", "--v"):
            if arg == name and i + 1 < len(argv):
                value = argv[i + 1]
            elif arg.startswith(name + "="):
                value = arg.split("=", 1)[1]
    if value is None:
        return 0
    try:
        return int(value)
    except ValueError:
        return LEVEL_NAMES.get(value.lower(), 0)


class LineFilter:
    """Drops the known start-up lines (see the module docstring) from what is written to
    file descriptor 2 between `start()` and `stop()`; every other byte passes through.
    `dropped` lists what was dropped."""

    def __init__(self):
        self.dropped, self._no_driver = [], False

    def drops(self, line):
        if _PREINIT.match(line) or _ONEDNN.match(line):
            return True
        if _NO_DRIVER.match(line):
            self._no_driver = True
            return True
        # cuInit failing is news only on a machine whose CUDA driver was found.
        return bool(self._no_driver and _CUINIT.match(line))

    def _pump(self, read_fd):
        with os.fdopen(read_fd, "rb") as pipe:
            for line in pipe:
                if self.drops(line):
                    self.dropped.append(line.decode(errors="replace").rstrip())
                else:
                    try:
                        os.write(self._saved, line)
                    except OSError:  # stderr closed (a pipe's reader gone): keep draining
                        pass

    def start(self):
        sys.stderr.flush()
        self._saved = os.dup(2)
        read_fd, write_fd = os.pipe()
        os.dup2(write_fd, 2)
        os.close(write_fd)
        self._thread = threading.Thread(target=self._pump, args=(read_fd,), daemon=True,
                                        name="famus_tf-stderr-filter")
        self._thread.start()

    def stop(self):
        sys.stderr.flush()
        os.dup2(self._saved, 2)  # the pipe's last writer closes: the thread reads to its end
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            os.close(self._saved)


class _FilteredLoader(importlib.abc.Loader):
    """Runs the real loader of `tensorflow` (and its first device listing) inside a
    `LineFilter`."""

    def __init__(self, loader, line_filter):
        self.loader, self.line_filter = loader, line_filter

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.line_filter.start()
        try:
            self.loader.exec_module(module)
            module.config.list_physical_devices()  # where cuInit is called (and fails)
        finally:
            self.line_filter.stop()

    def __getattr__(self, name):  # resources and the rest: the real loader's
        return getattr(self.loader, name)


class _TensorFlowFinder(importlib.abc.MetaPathFinder):
    def __init__(self, line_filter):
        self.line_filter = line_filter

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)  # once, and the real finders find it
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _FilteredLoader(spec.loader, self.line_filter)
        return spec


def quiet(argv=None, environ=os.environ):
    """Sets TensorFlow's C++ log level and filters its pre-initialisation lines during
    the import of tensorflow still to come (see the module docstring). Returns the
    `LineFilter` in use, or None when everything is to be shown or TensorFlow is
    already loaded."""
    argv = sys.argv if argv is None else argv
    if verbosity(argv) >= 1:
        environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0")
    if not environ.get("TF_CPP_MIN_LOG_LEVEL"):
        environ["TF_CPP_MIN_LOG_LEVEL"] = "1"
    if environ["TF_CPP_MIN_LOG_LEVEL"] == "0" or "tensorflow" in sys.modules:
        return None
    line_filter = LineFilter()
    sys.meta_path.insert(0, _TensorFlowFinder(line_filter))
    return line_filter
