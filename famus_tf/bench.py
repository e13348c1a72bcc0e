"""Step benchmarks: `python -m famus_tf.bench [--model=...] [--output_json=PATH]`.

Times, in one process, a plain SGD step and the meta steps (MW-Net, L2R, MLC, each
with full meta-gradients and with FaMUS; MW-Net also with Random-K), with and
without XLA. Every configuration is compiled and warmed up first; then the
configurations run in interleaved rounds, so that a slow spell of a noisy machine
hits all of them alike, and the table reports the median milliseconds per step and
its ratio to the plain step of the same XLA setting, the first-call (trace and
compile) time, and (`--memory`, on by default) the peak memory of one step of that
configuration, measured in a fresh process per configuration (famus_tf/step_memory.py:
the allocator's peak where TensorFlow keeps allocator statistics (GPUs; CPUs with its
oneDNN kernels on), otherwise the growth of the process' VmHWM over its level between
steps; "-" where neither can be read).
With XLA the FaMUS steps are built without branches (`num_segments=0`), as
famus_tf.main does: XLA needs minutes to compile `tf.switch_case` over them.
"""
import json
import os
import statistics
import sys
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf
from absl import flags
from PIL import Image

from famus_tf import bench_keras, bench_samplers, cli, hardware, models, step_memory
from famus_tf.config import CotrainConfig, MetaConfig, OptimConfig
from famus_tf.cotrain import eval_train
from famus_tf.cotrain.step import CoStep
from famus_tf.data import augment, cnwl, pipeline, records
from famus_tf.meta import functional as fn, optim
from famus_tf.meta.precision import PRECISIONS
from famus_tf.meta.step import MetaLearner, compiled_step
from famus_tf.train import distribute

BENCH = flags.FlagValues()
flags.DEFINE_string("model", "preact_resnet18", "Model name from famus_tf.models.", flag_values=BENCH)
flags.DEFINE_integer("batch_size", 64, "Training (and validation) batch size.", flag_values=BENCH)
flags.DEFINE_integer("image_size", 32, "Images are image_size x image_size x channels.", flag_values=BENCH)
flags.DEFINE_integer("channels", 3, "Image channels.", flag_values=BENCH)
flags.DEFINE_integer("num_classes", 10, "Classes.", flag_values=BENCH)
flags.DEFINE_integer("rounds", 5, "Timed rounds per configuration (after warm-up).", flag_values=BENCH)
flags.DEFINE_integer("warmup", 2, "Untimed calls per configuration after the first.", flag_values=BENCH)
flags.DEFINE_enum("xla", "both", ["both", "on", "off"], "Which XLA settings to time.", flag_values=BENCH)
flags.DEFINE_list("methods", ["plain", "mwnet", "mwnet_famus", "mwnet_random", "l2r", "l2r_famus",
                              "mlc", "mlc_famus", "mwnet_reuse", "mwnet_famus_reuse"],
                  "Configurations to time.", flag_values=BENCH)
flags.DEFINE_bool("memory", True, "--mode=step: also measure each configuration's step memory in "
                  "a fresh process (famus_tf/step_memory.py).", flag_values=BENCH)
flags.DEFINE_string("candidates", None, "FaMUS candidate set (default: the model's last stage, "
                    "or every tensor where that stage has K or fewer).",
                    flag_values=BENCH)
flags.DEFINE_integer("num_active", 4, "K for FaMUS and Random-K.", flag_values=BENCH)
flags.DEFINE_string("output_json", None, "Also write the results as JSON here.", flag_values=BENCH)
flags.DEFINE_enum("mode", "step", ["step", "pipeline", "devices", "cotrain", "trained_samplers",
                            "keras_fit"],
                  "step: time training steps; keras_fit: MetaReweighting.fit beside the program's "
                  "compiled loop, interleaved (famus_tf/bench_keras.py); trained_samplers: train MW-Net + FaMUS on the "
                  "digits for --sampler_train_steps, then time its step beside the same network "
                  "with untrained samplers and report the gates (famus_tf/bench_samplers.py); cotrain: one iteration of Algorithm 2 (both networks' "
                  "co-training steps on batch_size labeled + batch_size unlabeled + 2 batch_size "
                  "meta images, configurations --cotrain_configs) and the per-epoch evaluation "
                  "pass, next to a plain step; "
                  "pipeline: images/s of the Clothing1M and WebVision input pipelines on a "
                  "generated JPEG tree, next to the images/s of a plain training step; devices: "
                  "the steps of --methods on one device and mirrored over --logical_devices "
                  "logical CPU devices (same global batch).", flag_values=BENCH)
flags.DEFINE_integer("logical_devices", 2, "--mode=devices: logical CPU devices of the mirrored "
                     "configuration.", flag_values=BENCH)
flags.DEFINE_list("cotrain_configs", ["cotrain_famus", "cotrain_plain"],
                  "--mode=cotrain: configurations (cotrain_famus, cotrain_mwnet, cotrain_plain).",
                  flag_values=BENCH)
flags.DEFINE_float("lambda_u", 50.0, "--mode=cotrain: the unlabeled MSE weight of the timed "
                  "iterations; 0 trains on the 2B labeled rows only, as main's --lambda_u=0 "
                  "(WebVision, Clothing1M).", lower_bound=0.0, flag_values=BENCH)
flags.DEFINE_integer("eval_images", 1024, "--mode=cotrain: images of the timed evaluation pass.",
                     flag_values=BENCH)
flags.DEFINE_list("precisions", ["float32"], "--mode=step: time every configuration under each "
                  "of these --precision values (float32, mixed_bfloat16, mixed_float16); rows "
                  "NAME@PRECISION, with their speed-up over the float32 row.", flag_values=BENCH)
flags.DEFINE_integer("sampler_train_steps", 200, "--mode=trained_samplers: training steps.",
                     flag_values=BENCH)
flags.DEFINE_list("actual_steps", ["recompute", "reuse"], "--mode=trained_samplers: the actual "
                  "steps (recompute, reuse) to time with trained and untrained samplers; the "
                  "first one trains the samplers.", flag_values=BENCH)
flags.DEFINE_integer("pipeline_images", 512, "JPEGs generated for --mode=pipeline.", flag_values=BENCH)
bench_keras.define_flags(BENCH)

CONFIGS = {
    "plain": dict(method="plain"),
    "floor": dict(method="plain"),  # reference: what any meta step must do (see floor_step)
    "mwnet": dict(method="mwnet", famus=False),
    "mwnet_famus": dict(method="mwnet", famus=True),
    "mwnet_reuse": dict(method="mwnet", famus=False, actual_step="reuse"),  # one backward fewer
    "mwnet_famus_reuse": dict(method="mwnet", famus=True, actual_step="reuse"),
    "mwnet_random": dict(method="mwnet", famus=True, gate_policy="random"),
    "mwnet_fixed": dict(method="mwnet", famus=True, gate_policy="fixed"),
    "mwnet_off": dict(method="mwnet", famus=True, gate_policy="off"),  # no candidate's path kept
    "l2r": dict(method="l2r", famus=False),
    "l2r_famus": dict(method="l2r", famus=True),
    "mlc": dict(method="mlc", famus=False),
    "mlc_famus": dict(method="mlc", famus=True),
}

# Algorithm 2's iteration: MW-Net + FaMUS (the paper), MW-Net with the full meta-gradient,
# and the recipe without a meta step (DivideMix-style, uniform weights).
COTRAIN_CONFIGS = {
    "cotrain_famus": dict(method="mwnet", famus=True),
    "cotrain_mwnet": dict(method="mwnet", famus=False),
    "cotrain_plain": dict(method="plain"),
}


def floor_step(learner, xla=False):
    """The work no meta step avoids, and nothing else: training forward, virtual backward,
    validation forward at w_hat, the actual step's backward and update. A reference for
    the meta configurations (`--methods=plain,floor,...`), not a training method."""
    model = learner.model

    def step(x, y, xv, yv):
        w, nt = fn.trainable_values(model), fn.non_trainable_values(model)
        tape = tf.GradientTape(persistent=True)
        with tape:
            tape.watch(w)
            logits, new_nt = fn.forward(model, w, nt, x)
        n = tf.cast(tf.shape(logits)[0], logits.dtype)
        d = tf.stop_gradient(tf.nn.softmax(logits) - tf.one_hot(y, tf.shape(logits)[-1])) / n
        g = fn.inner_gradient(tape, logits, w, d)
        val_logits, _ = fn.forward(model, [a - 0.02 * b for a, b in zip(w, g)], nt, xv)
        actual = fn.inner_gradient(tape, logits, w, 0.5 * d)
        learner.optimizer.apply(optim.with_decay(actual, model.trainable_variables, 5e-4),
                                model.trainable_variables)
        for v, value in zip(model.non_trainable_variables, new_nt):
            v.assign(value)
        return {"loss": tf.reduce_mean(fn.per_example_ce(val_logits, yv))}

    return tf.function(step, autograph=False, jit_compile=xla)


def build_steps(names, xla, model_name, batch, num_classes, candidates, num_active, strategy=None,
                precision="float32"):
    """Compiled steps for the named configurations, each with its own model copy; with a
    `strategy`, each step runs per replica on its shard of the (global) batch (the
    `floor` reference is one-device only)."""
    shape = tuple(batch[0].shape[1:])
    steps = {}
    for name in names:
        if name == "floor" and strategy is not None:
            continue
        keras.utils.set_random_seed(0)
        with (strategy or tf.distribute.get_strategy()).scope():
            model = models.build_model(model_name, num_classes, shape, precision=precision)
            meta = MetaConfig(candidates=models.bench_candidates(candidates, model_name, model,
                                                                 num_active),
                              head_prefix=models.head_prefix(model_name), num_active=num_active,
                              num_segments=0 if xla else 8, **CONFIGS[name])
            learner = MetaLearner(model, num_classes, meta, OptimConfig(lr=0.02))
        if strategy is None:
            steps[name] = floor_step(learner, xla) if name == "floor" else compiled_step(learner, xla)
            continue
        run = tf.function(lambda *b, learner=learner: distribute.run_step(
            strategy, learner.train_step, b), autograph=False)
        steps[name] = lambda *b, run=run: run(*distribute.distribute_batch(strategy, b))
    return steps


def run(names, xla_settings, model_name="preact_resnet18", batch_size=64, image_size=32, channels=3,
        num_classes=10, rounds=5, warmup=2, candidates=None, num_active=4, log=print,
        strategies=None, precisions=("float32",)):
    """Benchmarks and returns {xla: {name: {...}}}; also usable from tests.

    `strategies`: {suffix: tf.distribute strategy}; each configuration is also timed
    under each strategy, as NAME + suffix (ratios still to the one-device plain step);
    and under each of `precisions` other than float32 as NAME@PRECISION (one-device)."""
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        raise ValueError(f"--methods: unknown configuration(s) {unknown}; known: {sorted(CONFIGS)}")
    rng = tf.random.Generator.from_seed(0)
    shape = [batch_size, image_size, image_size, channels]
    batch = (rng.normal(shape), rng.uniform([batch_size], 0, num_classes, tf.int64),
             rng.normal(shape), rng.uniform([batch_size], 0, num_classes, tf.int64))
    results = {}
    for xla in xla_settings:
        steps = build_steps(names, xla, model_name, batch, num_classes, candidates, num_active)
        for p in precisions:
            if p != "float32":
                steps.update({f"{n}@{p}": s for n, s in build_steps(
                    names, xla, model_name, batch, num_classes, candidates, num_active,
                    precision=p).items()})
        for suffix, strategy in (strategies or {}).items():
            steps.update({n + suffix: s for n, s in build_steps(
                names, xla, model_name, batch, num_classes, candidates, num_active, strategy).items()})
        calls = {n: (lambda step=step: step(*batch)) for n, step in steps.items()}
        results[xla] = speedups(time_calls(calls, rounds, warmup, log, f"[xla={xla}] "))
    return results


def speedups(res):
    """Adds `speedup_vs_float32` (float32 time / this time) to every NAME@PRECISION row."""
    for name, r in res.items():
        base = res.get(name.split("@")[0])
        if "@" in name and base:
            r["speedup_vs_float32"] = base["median_ms"] / r["median_ms"]
    return res


def time_calls(calls, rounds, warmup, log=print, tag=""):
    """{name: {times, first_call_s, median_ms, ratio_to_plain}} of zero-argument
    calls returning a dict with a "loss" tensor: first call, `warmup` untimed calls, then
    `rounds` interleaved timed rounds; ratios to the call named "plain" if there is one."""
    res = {n: {"times": []} for n in calls}
    for name, call in calls.items():
        t0 = time.perf_counter()
        call()["loss"].numpy()
        res[name]["first_call_s"] = time.perf_counter() - t0
        for _ in range(warmup):
            call()["loss"].numpy()
        log(f"{tag}{name}: first call {res[name]['first_call_s']:.1f} s")
    for r in range(rounds):
        for name, call in calls.items():
            t0 = time.perf_counter()
            call()["loss"].numpy()
            res[name]["times"].append((time.perf_counter() - t0) * 1000.0)
        log(f"{tag}round {r + 1}/{rounds} done")
    base = statistics.median(res["plain"]["times"]) if "plain" in res else None
    for name, r in res.items():
        r["median_ms"] = statistics.median(r["times"])
        r["ratio_to_plain"] = r["median_ms"] / base if base else None
    return res


def cotrain_iteration(name, model_name, shape, num_classes, candidates=None, num_active=4,
                      lambda_u=CotrainConfig.lambda_u):
    """Both networks' co-training steps (cotrain/step.py) as one tf.function of uint8
    (labeled, unlabeled, meta) batches, each (images, labels, clean_prob, is_clean);
    preprocessing and augmentation (crop_flip) as the loop does them."""
    cfg = CotrainConfig(meta_set="pseudo_clean", lambda_u=lambda_u)
    learners = []
    for k in range(2):
        keras.utils.set_random_seed(k)
        model = models.build_model(model_name, num_classes, shape)
        meta = MetaConfig(candidates=models.bench_candidates(candidates, model_name, model, num_active),
                          head_prefix=models.head_prefix(model_name), num_active=num_active,
                          **COTRAIN_CONFIGS[name])
        learners.append(MetaLearner(model, num_classes, meta, OptimConfig(lr=0.02), cotrain=cfg))

    def prep_for(learner):
        def prep(x, stream):
            x = pipeline.preprocess(x, cnwl.MEAN[:shape[-1]], cnwl.STD[:shape[-1]], learner.dtype)
            return augment.apply("crop_flip", x, learner.optimizer.iterations, stream)
        return prep

    steps = [CoStep(learners[k], learners[1 - k].model, cfg, num_classes, prep_for(learners[k]),
                    network=k) for k in range(2)]
    lambda_u = tf.constant(cfg.lambda_u, tf.float32)

    def iteration(labeled, unlabeled, meta):
        out = [s(labeled, unlabeled, meta if s.learner.method else None, lambda_u) for s in steps]
        return {"loss": out[0]["loss"] + out[1]["loss"]}

    return tf.function(iteration, autograph=False), learners[0].model


def run_cotrain(names, model_name="preact_resnet18", batch_size=64, image_size=32, channels=3,
                num_classes=10, rounds=3, warmup=1, candidates=None, num_active=4, eval_images=1024,
                log=print, lambda_u=CotrainConfig.lambda_u):
    """Times a plain step (batch_size) and one co-training iteration per configuration
    (both networks; B labeled + B unlabeled + 2B meta images), interleaved; and the
    evaluation pass of the per-epoch split (eval_train.per_example_losses, batches of 256)
    per image, as a fraction of a plain step's time per image. Returns (results, eval)."""
    unknown = [n for n in names if n not in COTRAIN_CONFIGS]
    if unknown:
        raise ValueError(f"--cotrain_configs: unknown {unknown}; known: {sorted(COTRAIN_CONFIGS)}")
    rng = np.random.default_rng(0)
    shape = (image_size, image_size, channels)

    def part(n):
        return (tf.constant(rng.integers(0, 256, (n,) + shape), tf.uint8),
                tf.constant(rng.integers(0, num_classes, n), tf.int64),
                tf.constant(rng.random(n), tf.float32), tf.constant(rng.random(n) < 0.5))

    parts = (part(batch_size), part(batch_size), part(2 * batch_size))
    floats = tf.random.Generator.from_seed(0)
    batch = (floats.normal((batch_size,) + shape), parts[0][1], floats.normal((batch_size,) + shape),
             parts[1][1])
    plain = build_steps(["plain"], False, model_name, batch, num_classes, candidates, num_active)["plain"]
    calls = {"plain": lambda: plain(*batch)}
    for name in names:
        step, _ = cotrain_iteration(name, model_name, shape, num_classes, candidates, num_active,
                                    lambda_u)
        calls[name] = lambda step=step: step(*parts)
    res = time_calls(calls, rounds, warmup, log)
    ev = eval_cost(cotrain_iteration("cotrain_plain", model_name, shape, num_classes)[1],
                   eval_images, num_classes, rng)
    ev["plain_ms_per_image"] = res["plain"]["median_ms"] / batch_size
    ev["eval_to_plain_per_image"] = ev["eval_ms_per_image"] / ev["plain_ms_per_image"]
    return res, ev


def eval_cost(model, n, num_classes, rng):
    """Milliseconds per image of eval_train.per_example_losses in its steady state,
    (t(3n) - t(n)) / 2n, and the fixed cost of a call (it traces its function anew),
    t(n) - n * per image; t is the fastest of two calls."""
    shape = tuple(model.input_shape[1:])

    def preprocess(x):
        return pipeline.preprocess(x, cnwl.MEAN[:shape[-1]], cnwl.STD[:shape[-1]], tf.float32)

    times = []
    for size in (n, 3 * n):
        data = (rng.integers(0, 256, (size,) + shape).astype(np.uint8),
                rng.integers(0, num_classes, size))
        best = float("inf")
        for _ in range(2):
            t0 = time.perf_counter()
            eval_train.per_example_losses(model, data, preprocess)
            best = min(best, (time.perf_counter() - t0) * 1000.0)
        times.append(best)
    per_image = (times[1] - times[0]) / (2 * n)
    return {"eval_ms_per_image": per_image, "eval_call_overhead_s": (times[0] - n * per_image) / 1000.0}


def table(results):
    lines = ["| config | XLA | median ms | x plain | first call s | step MB | peak MB | speed-up vs float32 |",
             "|---|---|---|---|---|---|---|---|"]
    for xla, res in results.items():
        for name, r in res.items():
            ratio = f"{r['ratio_to_plain']:.2f}" if r["ratio_to_plain"] else "-"
            mem = [step_memory.mb(r.get(k)) for k in ("step_memory_mb", "peak_memory_mb")]
            fast = f"{r['speedup_vs_float32']:.2f}" if "speedup_vs_float32" in r else "-"
            lines.append(f"| {name} | {'on' if xla else 'off'} | {r['median_ms']:.0f} | {ratio} | "
                         f"{r['first_call_s']:.1f} | {mem[0]} | {mem[1]} | {fast} |")
    return "\n".join(lines)


def to_json(results, model, batch_size):
    """{"model", "batch_size", "xla", "results": {name: {...}}} for the first XLA setting;
    with both settings, the XLA run is nested under "xla_on" in the same form."""
    objs = [{"model": model, "batch_size": batch_size, "xla": xla,
             "results": {n: {k: v for k, v in r.items() if k != "times"} for n, r in res.items()}}
            for xla, res in results.items()]
    if len(objs) == 2:
        objs[0]["xla_on"] = objs[1]
    return objs[0]


def pipeline_throughput(num_images=512, batch_size=32, batches=None, log=print):
    """Images/s of the file pipelines (decode, resize, batch) on a generated JPEG tree, and
    of the same images converted to TFRecords at the stored size (data/records.py)."""
    rng = np.random.default_rng(0)
    out = {}
    with tempfile.TemporaryDirectory() as root:
        paths = []
        for i in range(num_images):  # web-photo-like sizes, JPEG quality 90
            p = os.path.join(root, f"{i}.jpg")
            h, w = int(rng.integers(300, 500)), int(rng.integers(300, 500))
            Image.fromarray(rng.integers(0, 256, (h, w, 3)).astype(np.uint8)).save(p, quality=90)
            paths.append(p)
        paths, labels = np.asarray(paths), np.arange(num_images) % 14
        streams = {}
        for name, size in (("clothing1m", 256), ("webvision", 320)):
            streams[name] = pipeline.train_stream((paths, labels), batch_size, seed=0, decode_size=size)
            out_dir = os.path.join(root, f"records_{size}")
            records.write_records(paths, {"label": labels}, out_dir, "train", size, num_shards=4,
                                  log=lambda s: None)
            streams[name + "_records"] = records.train_stream(out_dir, "train", batch_size, seed=0)
        for name, ds in streams.items():
            it = iter(ds)
            next(it)  # warm-up
            n = batches or max(num_images // batch_size, 4)
            t0 = time.perf_counter()
            for _ in range(n):
                next(it)[0].numpy()
            out[name] = n * batch_size / (time.perf_counter() - t0)
            log(f"{name} pipeline: {out[name]:.0f} images/s")
    return out


parse_flags = cli.flags_parser("famus_tf.bench", BENCH, doc=__doc__)


def main(argv):
    f = BENCH
    problem = cli.unwritable_file(f.output_json, "--output_json")  # before minutes of work
    if problem:
        cli.fail("famus_tf.bench", problem)
    machine = hardware.describe()  # what the figures below were measured on
    print(hardware.line(machine), flush=True)
    if f.mode == "pipeline":
        rates = pipeline_throughput(f.pipeline_images)
        step = run(["plain"], [False], f.model, f.batch_size, f.image_size, f.channels, f.num_classes,
                   f.rounds, f.warmup)[False]["plain"]
        step_rate = f.batch_size / (step["median_ms"] / 1000.0)
        print(f"plain {f.model} step at {f.image_size}x{f.image_size}: {step_rate:.0f} images/s")
        for name, rate in rates.items():
            print(f"{name}: pipeline {rate:.0f} images/s = {rate / step_rate:.1f}x the step's need")
        if f.output_json:
            with open(f.output_json, "w") as fh:
                json.dump({"pipeline_images_per_s": rates, "step_images_per_s": step_rate}, fh, indent=2)
        return
    if f.mode == "cotrain":
        return _main_cotrain(f)
    if f.mode == "trained_samplers":
        return bench_samplers.main(f)
    if f.mode == "keras_fit":
        return bench_keras.main(f, machine)
    unknown = [n for n in f.methods if n not in CONFIGS]
    if unknown:
        raise SystemExit(f"famus_tf.bench: --methods: unknown {unknown}; known: {sorted(CONFIGS)}")
    xla = {"both": [False, True], "on": [True], "off": [False]}[f.xla]
    strategies = None
    if f.mode == "devices":
        devices = distribute.logical_cpus(f.logical_devices)
        strategies = {f"@{len(devices)}cpu": distribute.build_strategy("mirrored", devices)}
        print(f"CPU figures: one device vs MirroredStrategy over {len(devices)} logical devices of "
              "the same CPU cores (measures the distributed step's overhead, not a speed-up)")
    bad = [p for p in f.precisions if p not in PRECISIONS]
    if bad:
        raise SystemExit(f"famus_tf.bench: --precisions: unknown {bad}; known: {list(PRECISIONS)}")
    if ("mixed_bfloat16" in f.precisions and not tf.config.list_physical_devices("GPU")
            and machine["bfloat16"] == []):
        print("note: bfloat16 is emulated on this CPU, so the mixed_bfloat16 rows are expected "
              "to be slower than float32")
    results = run(f.methods, xla, f.model, f.batch_size, f.image_size, f.channels, f.num_classes,
                  f.rounds, f.warmup, f.candidates, f.num_active, strategies=strategies,
                  precisions=f.precisions)
    if f.memory:
        add_memory(results, f)
    print(f"model={f.model} batch={f.batch_size} image={f.image_size}x{f.image_size}x{f.channels} "
          f"rounds={f.rounds}")
    print(table(results))
    if f.output_json:
        with open(f.output_json, "w") as fh:
            json.dump({**to_json(results, f.model, f.batch_size), "machine": machine}, fh, indent=2)


def add_memory(results, f):
    """Adds step_memory_mb, peak_memory_mb, memory_source to each one-device configuration."""
    for xla, res in results.items():
        for name, r in res.items():
            if name in CONFIGS:
                r.update(step_memory.in_subprocess(name, xla, f.model, f.batch_size, f.image_size,
                                                   f.channels, f.num_classes, f.candidates,
                                                   f.num_active))
                print(f"[xla={xla}] {name}: step memory {step_memory.mb(r['step_memory_mb'])} MB "
                      f"(peak {step_memory.mb(r['peak_memory_mb'])} MB, {r['memory_source']})",
                      flush=True)


def _main_cotrain(f):
    try:
        res, ev = run_cotrain(f.cotrain_configs, f.model, f.batch_size, f.image_size, f.channels,
                              f.num_classes, f.rounds, f.warmup, f.candidates, f.num_active,
                              f.eval_images, lambda_u=f.lambda_u)
    except ValueError as e:
        raise SystemExit(f"famus_tf.bench: {e}")
    print(f"model={f.model} co-training iteration: both networks, {f.batch_size} labeled + "
          f"{f.batch_size} unlabeled + {2 * f.batch_size} meta images "
          f"{f.image_size}x{f.image_size}x{f.channels}, lambda_u={f.lambda_u:g}"
          f"{' (trains on the labeled rows only)' if f.lambda_u == 0 else ''}; "
          f"plain step: batch {f.batch_size}")
    print(table({False: res}))
    print(f"evaluation pass (per-epoch split): {ev['eval_ms_per_image']:.2f} ms per image = "
          f"{ev['eval_to_plain_per_image']:.2f} of a plain step's time per image "
          f"(plus {ev['eval_call_overhead_s']:.1f} s per call: tracing)")
    if f.output_json:
        with open(f.output_json, "w") as fh:
            json.dump({**to_json({False: res}, f.model, f.batch_size), "eval": ev}, fh, indent=2)


if __name__ == "__main__":
    main(parse_flags(sys.argv))
