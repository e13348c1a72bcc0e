"""`python -m famus_tf.bench --mode=trained_samplers`: the FaMUS step with trained samplers.

The step bench times samplers at their initialisation, which switch on about half of
the gates. The cost of a FaMUS step is set by its lowest active candidate tensor (the
double backward runs from the loss down to it; meta/virtual.py), so what the samplers
learn decides the speed. This mode

  1. trains MW-Net + FaMUS with the bench's model for `train_steps` steps on the
     scikit-learn digits (8x8, upscaled to the bench's image size and channels,
     normalised; 40% symmetric label noise on the training part, a clean meta batch
     from a held-out part), recording the gates of every step;
  2. copies the trained base network and weighting network into a second learner
     whose samplers are freshly initialised (untrained), so that only the samplers
     differ;
  3. times a plain step, the trained and the untrained FaMUS steps interleaved on the
     same digits batch (bench.time_calls), recording their gates.

`actual_steps` lists the actual steps (meta/actual.py) to time: the first one trains,
and for each a trained and an untrained learner are timed (rows `famus_trained`,
`famus_untrained` for recompute; `famus_reuse_trained`, `famus_reuse_untrained` for
reuse). Every learner of a kind starts from the same trained state (the base network,
the weighting network, and for the trained ones the samplers).

Reported per learner: the median step time and its ratio to the plain step, the mean
on-rate of each candidate tensor, the mean number of active gates, and the histogram
of the lowest active candidate (index in depth order; "none" when every gate is off);
for the training run, the same gate statistics over its first and last quarter.
"""
import keras
import numpy as np
import tensorflow as tf

from famus_tf import models
from famus_tf.config import MetaConfig, OptimConfig
from famus_tf.meta.step import MetaLearner, compiled_step


def digits_stream(image_size, channels, batch_size, seed=0, noise=0.4):
    """An endless iterator of (x, y_noisy, x_meta, y_meta) float32/int64 batches of the
    digits at image_size x image_size x channels (bilinear upscaling, mean 0 / std 1)."""
    from sklearn.datasets import load_digits
    digits = load_digits()
    x = tf.image.resize(digits.images[..., None].astype(np.float32) / 16.0, (image_size, image_size))
    x = tf.tile(x, [1, 1, 1, channels]).numpy()
    x = (x - x.mean()) / x.std()
    y = digits.target.astype(np.int64)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    train, meta = order[:1500], order[1500:]
    noisy = y.copy()
    flip = rng.random(len(y)) < noise
    noisy[flip] = rng.integers(0, 10, flip.sum())
    while True:
        i = rng.choice(train, batch_size, replace=False)
        j = rng.choice(meta, batch_size, replace=False)
        yield (tf.constant(x[i]), tf.constant(noisy[i]), tf.constant(x[j]), tf.constant(y[j]))


def famus_learner(model_name, image_size, channels, candidates=None, num_active=4,
                  precision="float32", seed=0, actual_step="recompute"):
    """MW-Net + FaMUS as the step bench builds it (learned samplers, 8 segments), 10 classes."""
    keras.utils.set_random_seed(seed)
    model = models.build_model(model_name, 10, (image_size, image_size, channels),
                               precision=precision)
    meta = MetaConfig(method="mwnet", famus=True,
                      candidates=models.bench_candidates(candidates, model_name, model, num_active),
                      head_prefix=models.head_prefix(model_name), num_active=num_active,
                      actual_step=actual_step)
    return MetaLearner(model, 10, meta, OptimConfig(lr=0.02))


def copy_state(src, dst, samplers):
    """Copies the base network and the weighting network of learner `src` into `dst`, and
    with `samplers` the samplers too (otherwise `dst` keeps its freshly initialised ones)."""
    dst.model.set_weights(src.model.get_weights())
    for a, b in zip(dst.method.meta_variables, src.method.meta_variables):
        a.assign(b)
    if samplers:
        for a, b in zip(dst.samplers, src.samplers):
            a.set_weights(b.get_weights())


def row_name(actual_step, trained):
    """The result row of a FaMUS learner: famus[_reuse]_(un)trained."""
    middle = "" if actual_step == "recompute" else f"_{actual_step}"
    return f"famus{middle}_{'trained' if trained else 'untrained'}"


def gate_stats(gates):
    """{on_rate: [mean per candidate], mean_active, lowest_active: {index or 'none': count},
    steps} of a list of 0/1 gate vectors (candidates in depth order)."""
    g = np.asarray(gates, dtype=np.float64)
    lowest = {}
    for row in g:
        on = np.flatnonzero(row > 0.5)
        key = str(int(on[0])) if len(on) else "none"
        lowest[key] = lowest.get(key, 0) + 1
    order = sorted(lowest, key=lambda k: (k == "none", int(k) if k != "none" else 0))
    return {"on_rate": [round(float(v), 3) for v in g.mean(axis=0)],
            "mean_active": round(float(g.sum(axis=1).mean()), 2),
            "lowest_active": {k: lowest[k] for k in order}, "steps": len(g)}


def train_samplers(learner, stream, steps, log=print):
    """Runs `steps` training steps; returns the gates of every step."""
    step = compiled_step(learner)
    gates = []
    for k in range(steps):
        out = step(*next(stream))
        gates.append(out["gates"].numpy())
        if (k + 1) % max(steps // 10, 1) == 0:
            log(f"sampler training: step {k + 1}/{steps}, loss {float(out['loss']):.3f}, "
                f"gates on {gates[-1].sum():.0f}/{len(gates[-1])}")
    return gates


def run(model_name="preact_resnet18", batch_size=64, image_size=32, channels=3, train_steps=200,
        rounds=5, warmup=2, candidates=None, num_active=4, precision="float32",
        actual_steps=("recompute",), log=print):
    """Trains the samplers (with the first of `actual_steps`), then times a plain step and,
    for each actual step, the FaMUS step with trained and with untrained samplers; returns
    a JSON-ready dict (see the module docstring)."""
    from famus_tf import bench
    from famus_tf.meta import actual as actual_lib
    bad = [a for a in actual_steps if a not in actual_lib.ACTUAL_STEPS]
    if bad or not actual_steps:
        raise ValueError(f"actual steps must be some of {actual_lib.ACTUAL_STEPS}, got {actual_steps}")
    stream = digits_stream(image_size, channels, batch_size)
    build = lambda a: famus_learner(model_name, image_size, channels, candidates, num_active,
                                    precision, actual_step=a)
    trained = build(actual_steps[0])
    history = train_samplers(trained, stream, train_steps, log)
    learners = {}
    for a in actual_steps:
        for is_trained in (True, False):
            if is_trained and a == actual_steps[0]:
                learner = trained
            else:
                learner = build(a)
                copy_state(trained, learner, samplers=is_trained)
            learners[row_name(a, is_trained)] = learner
    batch = next(stream)
    plain = bench.build_steps(["plain"], False, model_name, batch, 10, candidates, num_active)["plain"]
    seen = {name: [] for name in learners}

    def recorder(learner, name):
        step = compiled_step(learner)

        def call():
            out = step(*batch)
            seen[name].append(out["gates"].numpy())
            return out
        return call

    calls = {"plain": lambda: plain(*batch)}
    calls.update({name: recorder(learner, name) for name, learner in learners.items()})
    res = bench.time_calls(calls, rounds, warmup, log)
    quarter = max(train_steps // 4, 1)
    paths = [trained.model.trainable_variables[i].path for i in trained.selection.candidates]
    out = {"model": model_name, "batch_size": batch_size, "precision": precision,
           "train_steps": train_steps, "train_actual_step": actual_steps[0], "candidates": paths,
           "training": {"first_quarter": gate_stats(history[:quarter]),
                        "last_quarter": gate_stats(history[-quarter:])},
           "results": {n: {k: v for k, v in r.items() if k != "times"} for n, r in res.items()}}
    for name, gates in seen.items():
        out["results"][name]["gates"] = gate_stats(gates)
    return out


def table(out):
    """The printed report: times, then the gate distributions."""
    lines = [f"trained samplers: {out['model']} batch {out['batch_size']} {out['precision']}, "
             f"{out['train_steps']} MW-Net + FaMUS training steps on the digits "
             f"(actual step: {out['train_actual_step']})",
             "| config | median ms | x plain | mean active | lowest active candidate (count) |",
             "|---|---|---|---|---|"]
    for name, r in out["results"].items():
        g = r.get("gates")
        lines.append(f"| {name} | {r['median_ms']:.0f} | {r['ratio_to_plain']:.2f} | "
                     f"{g['mean_active'] if g else '-'} | {g['lowest_active'] if g else '-'} |")
    lines.append("on-rate per candidate tensor (depth order):")
    rows = {"training, first quarter": out["training"]["first_quarter"],
            "training, last quarter": out["training"]["last_quarter"]}
    rows.update({name: r["gates"] for name, r in out["results"].items() if "gates" in r})
    for label, g in rows.items():
        lines.append(f"  {label}: {g['on_rate']} (mean active {g['mean_active']}, "
                     f"lowest active {g['lowest_active']})")
    lines += [f"  candidate {k}: {p}" for k, p in enumerate(out["candidates"])]
    return "\n".join(lines)


def main(f):
    """The bench's --mode=trained_samplers (parsed bench flags `f`; the first of --precisions)."""
    import json
    try:
        out = run(f.model, f.batch_size, f.image_size, f.channels, f.sampler_train_steps, f.rounds,
                  f.warmup, f.candidates, f.num_active, f.precisions[0], tuple(f.actual_steps))
    except ValueError as e:
        raise SystemExit(f"famus_tf.bench: --actual_steps: {e}")
    print(table(out))
    if f.output_json:
        with open(f.output_json, "w") as fh:
            json.dump(out, fh, indent=2)
