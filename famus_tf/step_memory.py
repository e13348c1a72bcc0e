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

How the figures are read, by what the device's allocator tells:
  allocator  TensorFlow keeps statistics for the GPU's allocator and, when its oneDNN
             kernels are on (TensorFlow's default on x86 CPUs with AVX512_VNNI,
             AVX512_BF16 or AMX; TF_ENABLE_ONEDNN_OPTS=1 anywhere), for the CPU's.
             `reset_memory_stats` after the warm-up; the level before is its 'current',
             the step's peak its 'peak' after the steps: the bytes of every tensor the
             step holds at once, oneDNN's scratchpads included (TensorFlow's oneDNN
             kernels take them from that allocator). On a CPU the allocator keeps freed
             memory pooled, so the process' resident set no longer follows the live
             tensors: `peak_memory_mb` is then the process' VmHWM (Linux) and
             `rss_growth_mb` the growth of VmHWM over the steps (what the process touched
             outside the pool: oneDNN's primitive cache and other small allocations).
  resident   without allocator statistics (the CPU with TensorFlow's own Eigen kernels,
             TF_ENABLE_ONEDNN_OPTS=0), the process' resident set: the kernel's high-water
             mark VmHWM is reset (`/proc/self/clear_refs`, 5) after the warm-up, the level
             before is VmRSS, the peak VmHWM after the steps (Linux). The subprocess runs
             with glibc's mmap threshold fixed at 64 KiB (MALLOC_MMAP_THRESHOLD_), so
             every tensor buffer above that size is mapped on allocation and returned on
             release: the resident set follows the live tensors instead of keeping freed
             buffers in malloc's arenas between steps. RSS counts pages touched, so it
             is an upper bound of the live tensor bytes at the peak (plus small
             allocations and thread stacks).
  neither    (no allocator statistics and no /proc): `step_memory_mb` and
             `peak_memory_mb` are None and `memory_source` says the figure is not
             available; nothing is estimated.
Both CPU ways measure the same thing: PreAct ResNet-18, batch 64, 32x32, one machine,
step memory with oneDNN (allocator) / without (resident): plain 455 / 439 MB, MW-Net +
FaMUS 612 / 612 MB, full MW-Net 974 / 951 MB (docs/speed.md).
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


def _has_allocator_stats(device):
    """True if TensorFlow keeps allocator statistics for `device` (resets them)."""
    try:
        tf.config.experimental.reset_memory_stats(device)
        return True
    except ValueError:  # "Cannot reset memory stats for device 'CPU:0'"
        return False


def _resident_kb():
    """Resets VmHWM to VmRSS and returns VmRSS (KiB), or None without /proc (Linux only)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return _status_kb("VmRSS")
    except OSError:
        return None


def measure(call, steps=2):
    """{'step_memory_mb', 'peak_memory_mb', 'memory_source'} (and on a CPU with allocator
    statistics 'rss_growth_mb') of `steps` calls of the zero-argument `call` (already
    traced and warmed up; it returns a dict with a "loss"); see the module docstring."""
    device = _gpu() or "CPU:0"
    allocator = _has_allocator_stats(device)
    rss_before = _resident_kb() if device == "CPU:0" else None
    if not allocator and rss_before is None:
        return {"step_memory_mb": None, "peak_memory_mb": None,
                "memory_source": "not available (no allocator statistics, no /proc)"}
    before = tf.config.experimental.get_memory_info(device)["current"] if allocator else None
    for _ in range(steps):
        call()["loss"].numpy()
    out = {}
    if rss_before is not None:
        rss_peak = _status_kb("VmHWM")
        out = {"step_memory_mb": (rss_peak - rss_before) / 1024.0,
               "peak_memory_mb": rss_peak / 1024.0, "memory_source": "process VmHWM (CPU)"}
    if allocator:
        peak = tf.config.experimental.get_memory_info(device)["peak"]
        if out:  # a CPU whose allocator pools freed memory: the process' peak stays VmHWM
            out = {"step_memory_mb": (peak - before) / MB, "peak_memory_mb": out["peak_memory_mb"],
                   "rss_growth_mb": out["step_memory_mb"],
                   "memory_source": "CPU:0 allocator peak (oneDNN); peak: process VmHWM"}
        else:
            out = {"step_memory_mb": (peak - before) / MB, "peak_memory_mb": peak / MB,
                   "memory_source": f"{device} allocator peak"}
    return out


def mb(value):
    """A memory figure for a table: whole MB, or '-' where none was measured."""
    return "-" if value is None else f"{value:.0f}"


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
                  candidates=None, num_active=4, timeout=3600, env=None):
    """`run_config` in a fresh process (see the module docstring); its JSON as a dict.
    `env`: variables added to the process' environment (e.g. TF_ENABLE_ONEDNN_OPTS)."""
    cmd = [sys.executable, "-m", "famus_tf.step_memory", f"--config={name}", f"--xla={bool(xla)}",
           f"--model={model}", f"--batch_size={batch_size}", f"--image_size={image_size}",
           f"--channels={channels}", f"--num_classes={num_classes}", f"--num_active={num_active}"]
    if candidates:
        cmd.append(f"--candidates={candidates}")
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_=str(MMAP_THRESHOLD),
               TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"), **(env or {}))
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
