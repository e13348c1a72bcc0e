"""Helpers shared by the end-to-end tests: JPEG files and the driver in a subprocess."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
from PIL import Image

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_jpeg(path, rng, shape=(40, 36, 3)):
    """A random-pixel JPEG at `path` (directories created)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(rng.integers(0, 256, shape).astype(np.uint8)).save(path)


def run_main(*args, timeout=600, **env_vars):
    """`python -m famus_tf.main ARGS` from the repository root, output captured;
    `env_vars` are added to the environment (e.g. TF_ENABLE_ONEDNN_OPTS="0")."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="", **env_vars)
    return subprocess.run([sys.executable, "-m", "famus_tf.main", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def run_main_in_process(*args):
    """`famus_tf.main` parsed and run in this process (absl's global flags saved and
    restored): (exit code, stderr). For refusals and short runs (--export_only), where
    the start-up of a new interpreter would cost more than the work."""
    import contextlib
    import io

    from absl.testing import flagsaver

    from famus_tf import main
    err = io.StringIO()
    with flagsaver.flagsaver(), contextlib.redirect_stderr(err):
        try:
            main.main(main.parse_flags(["famus_tf.main", *args]))
            code = 0
        except SystemExit as e:
            code = e.code
    return code, err.getvalue()


def kill_when(path, victim, procs=(), timeout=300, group=False):
    """SIGKILLs the process `victim` as soon as `path` exists (e.g. a checkpoint index);
    fails if `victim` or any of `procs` ends first. `group`: kill victim's whole process
    group (start it with start_new_session=True), i.e. it and the processes it started."""
    deadline = time.time() + timeout
    while not os.path.exists(path):
        assert all(p.poll() is None for p in (victim, *procs)), "the run ended before the kill"
        assert time.time() < deadline, f"{path} did not appear in {timeout} s"
        time.sleep(0.05)
    if group:
        os.killpg(victim.pid, signal.SIGKILL)
    else:
        victim.send_signal(signal.SIGKILL)
    victim.wait()
