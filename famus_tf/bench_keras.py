"""`python -m famus_tf.bench --mode=keras_fit`: `MetaReweighting.fit` beside the program's loop.

For each configuration (MW-Net + FaMUS and full MW-Net, `--keras_configs`) two copies of
the bench's model are built from the same seed and trained on the same data:

  loop  the program's compiled multi-step loop (train/loop.py `_multi_step`, the function
        `python -m famus_tf.main` runs): S steps per tf.function call, each reading a
        uint8 batch and a meta batch from tf.data iterators, normalising them
        (pipeline.preprocess; augmentation none), the MetaLearner step, the non-finite
        guard and the metric sums; the scalars are read back after every call, as the
        Trainer does;
  fit   famus_tf.keras.MetaReweighting on the same model, the same (already normalised)
        batches and meta batch size, compiled with steps_per_execution = S, trained by
        `model.fit` (no validation, verbose=0: History is the only callback).

S is `--keras_steps_per_execution` (10: the program's default --steps_per_call). A round
is `--keras_steps` steps (a multiple of S) of each timed thing, one after the other, so
that a slow spell of a noisy machine hits all of them alike; `--warmup` untimed rounds
follow the first (tracing) round. A fit round is one `fit(epochs=1)` call; its time is
taken from on_epoch_begin to on_epoch_end (the steady state of a multi-epoch fit); the
whole call, setup included, is reported apart (`fit_call_ms`). Reported per
configuration: the median ms/step of each and `fit_to_loop` = fit / loop (the issue asks
for at most 1.05).
"""
import statistics
import time

import keras
import numpy as np
import tensorflow as tf
from absl import flags

from famus_tf import models
from famus_tf.config import MetaConfig, OptimConfig
from famus_tf.data import pipeline
from famus_tf.meta.step import MetaLearner
from famus_tf.train import loop as loop_lib

CONFIGS = {"mwnet_famus": dict(method="mwnet", famus=True),
           "mwnet": dict(method="mwnet", famus=False)}
MEAN, STD = 0.5, 0.25  # per-channel normalisation of the generated uint8 images
META_SIZE = 1000  # trusted examples


def define_flags(fv):
    """The mode's flags, on the bench's FlagValues."""
    flags.DEFINE_integer("keras_steps_per_execution", 10, "--mode=keras_fit: steps per compiled "
                         "call, of both the program's loop and fit (steps_per_execution).",
                         flag_values=fv)
    flags.DEFINE_integer("keras_steps", 20, "--mode=keras_fit: steps per timed round (a multiple "
                         "of --keras_steps_per_execution).", flag_values=fv)
    flags.DEFINE_list("keras_configs", list(CONFIGS), "--mode=keras_fit: configurations "
                      f"({', '.join(CONFIGS)}).", flag_values=fv)


def _data(batch_size, shape, num_classes, steps, seed=0):
    """uint8 training images/labels (enough for `steps` distinct batches) and meta set."""
    rng = np.random.default_rng(seed)
    n = batch_size * steps
    images = rng.integers(0, 256, (n,) + shape).astype(np.uint8)
    labels = rng.integers(0, num_classes, n).astype(np.int64)
    meta_images = rng.integers(0, 256, (META_SIZE,) + shape).astype(np.uint8)
    meta_labels = (np.arange(META_SIZE) % num_classes).astype(np.int64)
    return images, labels, meta_images, meta_labels


def _normalise(images, channels):
    return pipeline.preprocess(images, (MEAN,) * channels, (STD,) * channels, tf.float32).numpy()


def _model(model_name, num_classes, shape, seed):
    keras.utils.set_random_seed(seed)
    return models.build_model(model_name, num_classes, shape)


def program_loop(name, model_name, data, batch_size, num_classes, candidates, num_active, spe):
    """call(): `spe` steps of train/loop.py's loop, scalars read back."""
    images, labels, meta_images, meta_labels = data
    shape = images.shape[1:]
    model = _model(model_name, num_classes, shape, 0)
    meta = MetaConfig(candidates=models.bench_candidates(candidates, model_name, model, num_active),
                      head_prefix=models.head_prefix(model_name), num_active=num_active,
                      **CONFIGS[name])
    learner = MetaLearner(model, num_classes, meta, OptimConfig(lr=0.02))
    n = len(labels)
    train = tf.data.Dataset.from_tensor_slices(
        (images, labels, np.zeros(n, bool), np.arange(n, dtype=np.int64))).repeat().batch(
        batch_size, drop_remainder=True).prefetch(2)
    meta_ds = tf.data.Dataset.from_tensor_slices((meta_images, meta_labels)).shuffle(
        META_SIZE, seed=0).repeat().batch(batch_size, drop_remainder=True).prefetch(2)
    strategy = tf.distribute.get_strategy()
    run = tf.function(loop_lib._multi_step(
        strategy, learner, iter(train), iter(meta_ds), (MEAN,) * shape[-1], (STD,) * shape[-1],
        len(learner.selection.candidates), batch_size, "none"), autograph=False)
    steps = tf.constant(spe)

    def call():
        sums = run(steps)[0]
        return {k: float(v) for k, v in sums.items()}

    return call, learner


class _EpochTimer(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.ms = (time.perf_counter() - self.t0) * 1000.0


def keras_fit(name, model_name, data, batch_size, num_classes, candidates, num_active, spe,
              steps):
    """call(): one fit(epochs=1) of `steps` steps; returns (epoch ms, whole call ms)."""
    from famus_tf.keras import MetaReweighting
    images, labels, meta_images, meta_labels = data
    shape = images.shape[1:]
    base = _model(model_name, num_classes, shape, 0)
    cfg = CONFIGS[name]
    model = MetaReweighting(
        base, meta_data=(_normalise(meta_images, shape[-1]), meta_labels), num_classes=num_classes,
        method=cfg["method"], famus=cfg["famus"], meta_batch_size=batch_size,
        head=models.head_prefix(model_name), sync_batchnorm=False,
        candidates=models.bench_candidates(candidates, model_name, base, num_active),
        num_active=num_active)
    model.compile(optimizer=keras.optimizers.SGD(0.02, momentum=0.9, nesterov=True),
                  metrics=["accuracy"], steps_per_execution=spe)
    # finite: MetaReweighting.fit reads every label of its dataset first (a repeated one
    # would never end); `data` holds exactly `steps` batches, one epoch
    ds = tf.data.Dataset.from_tensor_slices((_normalise(images, shape[-1]), labels)).batch(
        batch_size, drop_remainder=True).prefetch(2)
    timer = _EpochTimer()

    def call():
        t0 = time.perf_counter()
        model.fit(ds, epochs=1, steps_per_epoch=steps, callbacks=[timer], verbose=0,
                  shuffle=False)
        return timer.ms, (time.perf_counter() - t0) * 1000.0

    return call, model


def run(names=tuple(CONFIGS), model_name="small_cnn", batch_size=64, image_size=8, channels=1,
        num_classes=10, rounds=5, warmup=1, candidates=None, num_active=4, spe=10, steps=20,
        log=print):
    """Times the loop and fit of each configuration, interleaved; returns a JSON-ready dict."""
    unknown = [n for n in names if n not in CONFIGS]
    if unknown or not names:
        raise ValueError(f"--keras_configs: unknown {unknown}; known: {sorted(CONFIGS)}")
    if spe < 1 or steps < spe or steps % spe:
        raise ValueError(f"--keras_steps={steps} must be a positive multiple of "
                         f"--keras_steps_per_execution={spe}")
    shape = (image_size, image_size, channels)
    data = _data(batch_size, shape, num_classes, steps)
    calls, fit_calls = {}, {}
    for name in names:
        loop_call, _ = program_loop(name, model_name, data, batch_size, num_classes, candidates,
                                    num_active, spe)
        calls[f"{name}/loop"] = lambda c=loop_call: _timed(lambda: [c() for _ in range(steps // spe)])
        fit_call, _ = keras_fit(name, model_name, data, batch_size, num_classes, candidates,
                                num_active, spe, steps)
        calls[f"{name}/fit"] = fit_call
    times = {k: [] for k in calls}
    whole = {k: [] for k in calls}
    first = {}
    for r in range(1 + warmup + rounds):
        for key, call in calls.items():
            t0 = time.perf_counter()
            ms, call_ms = call()
            if r == 0:
                first[key] = time.perf_counter() - t0
            elif r > warmup:
                times[key].append(ms / steps)
                whole[key].append(call_ms / steps)
        log(f"keras_fit: round {r + 1}/{1 + warmup + rounds} "
            f"({'tracing' if r == 0 else 'warm-up' if r <= warmup else 'timed'}) done")
    results = {}
    for name in names:
        loop_ms = statistics.median(times[f"{name}/loop"])
        fit_ms = statistics.median(times[f"{name}/fit"])
        results[name] = {"loop_ms": loop_ms, "fit_ms": fit_ms, "fit_to_loop": fit_ms / loop_ms,
                         "fit_call_ms": statistics.median(whole[f"{name}/fit"]),
                         "loop_first_call_s": first[f"{name}/loop"],
                         "fit_first_call_s": first[f"{name}/fit"],
                         "loop_times": times[f"{name}/loop"], "fit_times": times[f"{name}/fit"]}
    return {"model": model_name, "batch_size": batch_size, "meta_batch_size": batch_size,
            "image_shape": list(shape), "steps_per_execution": spe, "steps_per_round": steps,
            "rounds": rounds, "results": results}


def _timed(fn):
    t0 = time.perf_counter()
    fn()
    ms = (time.perf_counter() - t0) * 1000.0
    return ms, ms


def table(out):
    lines = [f"keras_fit: {out['model']} batch {out['batch_size']} (meta batch "
             f"{out['meta_batch_size']}) {'x'.join(map(str, out['image_shape']))}, "
             f"steps_per_execution {out['steps_per_execution']}, {out['steps_per_round']} steps "
             f"x {out['rounds']} interleaved rounds",
             "| config | loop ms/step | fit ms/step | fit / loop | fit call ms/step | first call s (loop / fit) |",
             "|---|---|---|---|---|---|"]
    for name, r in out["results"].items():
        lines.append(f"| {name} | {r['loop_ms']:.1f} | {r['fit_ms']:.1f} | {r['fit_to_loop']:.3f} | "
                     f"{r['fit_call_ms']:.1f} | {r['loop_first_call_s']:.1f} / "
                     f"{r['fit_first_call_s']:.1f} |")
    return "\n".join(lines)


def main(f, machine=None):
    """The bench's --mode=keras_fit (parsed bench flags `f`; `machine`: hardware.describe())."""
    import json
    try:
        out = run(tuple(f.keras_configs), f.model, f.batch_size, f.image_size, f.channels,
                  f.num_classes, f.rounds, f.warmup, f.candidates, f.num_active,
                  f.keras_steps_per_execution, f.keras_steps)
    except ValueError as e:
        raise SystemExit(f"famus_tf.bench: {e}")
    print(table(out))
    if f.output_json:
        with open(f.output_json, "w") as fh:
            json.dump({**out, "machine": machine}, fh, indent=2)
    return out
