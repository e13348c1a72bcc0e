"""What the machine a speed figure was measured on computes with.

A step time means little without its CPU: TensorFlow's CPU kernels differ by what the
processor offers. Two facts decide most of it here:

  bfloat16    a CPU that lists `avx512_bf16` (AVX-512 BF16: Intel Cooper Lake and later
              Xeons, AMD Zen 4 and later) or `amx_bf16` (AMX tiles: Intel Sapphire Rapids
              and later) computes bfloat16 products natively; without either, TensorFlow
              converts bfloat16 to and from float32 and a `mixed_bfloat16` step is several
              times slower than a float32 one.
  oneDNN      TensorFlow's oneDNN kernels replace its Eigen ones by default on x86 CPUs
              with AVX512_VNNI, AVX512_BF16 or AMX; TF_ENABLE_ONEDNN_OPTS=1 or 0 forces
              them on or off. They are faster and reduce in another order, and their
              allocator keeps statistics (famus_tf/step_memory.py).

`describe()` reads both (Linux /proc/cpuinfo; TensorFlow's own report of oneDNN) and
`line()` prints them in one line, which `python -m famus_tf.bench` writes above its
table and into its JSON.
"""
import platform

BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags(cpuinfo="/proc/cpuinfo"):
    """(model name, set of flags) of the first processor in `cpuinfo`; (None, None) if
    it cannot be read (not Linux)."""
    model, flags = None, None
    try:
        with open(cpuinfo) as fh:
            for line in fh:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and model is None:
                    model = value.strip()
                elif key == "flags" and flags is None:
                    flags = set(value.split())
    except OSError:
        return None, None
    return model, flags


def bfloat16_flags(cpuinfo="/proc/cpuinfo"):
    """The bfloat16 instruction sets the CPU lists (a sub-list of BF16_CPU_FLAGS; empty:
    bfloat16 is emulated), or None if unknown."""
    _, flags = cpu_flags(cpuinfo)
    return None if flags is None else [f for f in BF16_CPU_FLAGS if f in flags]


def onednn_enabled():
    """True if TensorFlow runs its oneDNN CPU kernels in this process, None if unknown."""
    try:
        from tensorflow.python.util import _pywrap_util_port
        return bool(_pywrap_util_port.IsMklEnabled())
    except (ImportError, AttributeError):
        return None


def describe(cpuinfo="/proc/cpuinfo"):
    """{'cpu', 'bfloat16', 'onednn'}: the CPU's model name (or the platform's processor),
    its bfloat16 instruction sets (None: unknown) and whether oneDNN is on."""
    model, _ = cpu_flags(cpuinfo)
    return {"cpu": model or platform.processor() or platform.machine(),
            "bfloat16": bfloat16_flags(cpuinfo), "onednn": onednn_enabled()}


def line(info):
    """One line for a report, e.g. 'CPU: AMD EPYC; bfloat16: native (avx512_bf16);
    TensorFlow's oneDNN kernels: on'."""
    bf16 = info["bfloat16"]
    bf16 = ("unknown" if bf16 is None else f"native ({', '.join(bf16)})" if bf16
            else f"emulated (none of {', '.join(BF16_CPU_FLAGS)})")
    onednn = {True: "on", False: "off", None: "unknown"}[info["onednn"]]
    return f"CPU: {info['cpu']}; bfloat16: {bf16}; TensorFlow's oneDNN kernels: {onednn}"
