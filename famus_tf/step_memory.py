"""Peak memory of one training step of one benchmark configuration.

`python -m famus_tf.bench` calls `in_subprocess` once per configuration: a fresh
process (`python -m famus_tf.step_memory --config=NAME ...`) builds that configuration
alone (bench.build_steps), traces it and runs `warmup` steps, then measures `steps`
more (`measure`) and prints one JSON line. So a figure is that configuration's, not a
process total after every configuration was built. Two numbers:

  step_memory_mb  what a step allocates above what the process holds between steps
                  (weights, optimiser and meta-model state, the traced graph): the
                  peak during the measured steps minus the level just before them.
  peak_memory_mb  the peak itself (everything the configuration needs at once).

How the peak is read:
  GPU  `tf.config.experimental.reset_memory_stats('GPU:0')`, then
       `get_memory_info('GPU:0')['peak']` after the steps; the level before is its
       'current' (TensorFlow's allocator, exact).
  CPU  TensorFlow keeps no allocator statistics for the CPU. The process' resident
       set: the kernel's high-water mark VmHWM is reset (`/proc/self/clear_refs`, 5)
       after the warm-up, the level before is VmRSS, the peak VmHWM after the steps
       (Linux). The subprocess runs with glibc's mmap threshold fixed at 64 KiB
       (MALLOC_MMAP_THRESHOLD_), so every tensor buffer above that size is mapped on
       allocation and returned on release: the resident set follows the live tensors
       instead of keeping freed buffers in malloc's arenas between steps. RSS counts
       pages touched, so it is an upper bound of the live tensor bytes at the peak
       (plus small allocations, thread stacks and kernel caches of oneDNN).
"""
import json
import os
import subprocess
import sys

import tensorflow as tf
from absl import flags

from famus_tf import cli

MEMORY = flags.FlagValues()
flags.DEFINE_string("config", "plain", "Benchmark configuration (famus_tf.bench CONFIGS).",
                    flag_values=MEMORY)
flags.DEFINE_bool("xla", False, "XLA-compile the step.", flag_values=MEMORY)
flags.DEFINE_string("model", "preact_resnet18", "Model name from famus_tf.models.", flag_values=MEMORY)
flags.DEFINE_integer("batch_size", 64, "Training (and validation) batch size.", flag_values=MEMORY)
flags.DEFINE_integer("image_size", 32, "Image height and width.", flag_values=MEMORY)
flags.DEFINE_integer("channels", 3, "Image channels.", flag_values=MEMORY)
flags.DEFINE_integer("num_classes", 10, "Classes.", flag_values=MEMORY)
flags.DEFINE_string("candidates", None, "FaMUS candidate set (default: the model's last stage).",
                    flag_values=MEMORY)
flags.DEFINE_integer("num_active", 4, "K for FaMUS and Random-K.", flag_values=MEMORY)

MMAP_THRESHOLD = 65536
MB = 1024.0 * 1024.0


def _status_kb(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"/proc/self/status has no {field}")


def _gpu():
    return "GPU:0" if tf.config.list_logical_devices("GPU") else None


def measure(call, steps=2):
    """{'step_memory_mb', 'peak_memory_mb', 'memory_source'} of `steps` calls of the
    zero-argument `call` (already traced and warmed up; it returns a dict with a "loss")."""
    gpu = _gpu()
    if gpu:
        tf.config.experimental.reset_memory_stats(gpu)
        before = tf.config.experimental.get_memory_info(gpu)["current"]
        for _ in range(steps):
            call()["loss"].numpy()
        peak = tf.config.experimental.get_memory_info(gpu)["peak"]
        return {"step_memory_mb": (peak - before) / MB, "peak_memory_mb": peak / MB,
                "memory_source": f"{gpu} allocator peak"}
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # resets VmHWM to the current VmRSS
    before = _status_kb("VmRSS")
    for _ in range(steps):
        call()["loss"].numpy()
    peak = _status_kb("VmHWM")
    return {"step_memory_mb": (peak - before) / 1024.0, "peak_memory_mb": peak / 1024.0,
            "memory_source": "process VmHWM (CPU)"}


def run_config(name, xla, model, batch_size, image_size, channels, num_classes, candidates=None,
               num_active=4, warmup=1, steps=2):
    """Builds configuration `name` alone in this process, as the bench times it, and measures it."""
    from famus_tf import bench
    rng = tf.random.Generator.from_seed(0)
    shape = [batch_size, image_size, image_size, channels]
    batch = (rng.normal(shape), rng.uniform([batch_size], 0, num_classes, tf.int64),
             rng.normal(shape), rng.uniform([batch_size], 0, num_classes, tf.int64))
    step = bench.build_steps([name], xla, model, batch, num_classes, candidates, num_active)[name]
    for _ in range(1 + warmup):
        step(*batch)["loss"].numpy()
    return measure(lambda: step(*batch), steps)


def in_subprocess(name, xla, model, batch_size, image_size, channels, num_classes,
                  candidates=None, num_active=4, timeout=3600):
    """`run_config` in a fresh process (see the module docstring); its JSON as a dict."""
    cmd = [sys.executable, "-m", "famus_tf.step_memory", f"--config={name}", f"--xla={bool(xla)}",
           f"--model={model}", f"--batch_size={batch_size}", f"--image_size={image_size}",
           f"--channels={channels}", f"--num_classes={num_classes}", f"--num_active={num_active}"]
    if candidates:
        cmd.append(f"--candidates={candidates}")
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_=str(MMAP_THRESHOLD),
               TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"))
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        tail = (out.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeError(f"step memory of {name}: the subprocess failed: {tail}")
    return json.loads(out.stdout.strip().splitlines()[-1])


parse_flags = cli.flags_parser("famus_tf.step_memory", MEMORY, doc=__doc__)


def main(argv):
    f = MEMORY
    from famus_tf import bench
    if f.config not in bench.CONFIGS:
        cli.fail("famus_tf.step_memory", f"--config: unknown {f.config!r}; known: {sorted(bench.CONFIGS)}")
    print(json.dumps(run_config(f.config, f.xla, f.model, f.batch_size, f.image_size, f.channels,
                                f.num_classes, f.candidates, f.num_active)))


if __name__ == "__main__":
    main(parse_flags(sys.argv))
