"""The compiled multi-step loops of Algorithm 2 (one tf.function call runs n iterations,
as train/loop.py's `_multi_step`): the warm-up loop (network 1's plain CE step, then
network 2's) and the co-training loop (network 1's co-training step on its labeled,
unlabeled and meta batches, then network 2's). The iterators are arguments, so a new
epoch's streams do not retrace. Each returns, per network, the sums of its scalar
metrics, its summed gates, and its last batch's example weights and clean mask (first
replica); then the non-finite guard's first bad iteration in the call (-1: none), its
code and the number of bad iterations (train/nonfinite.py: one guard over both networks'
losses and updates; skip mode undoes the whole iteration and leaves it out of the sums).
"""
import tensorflow as tf

from famus_tf.train import distribute, nonfinite
from famus_tf.train.loop import make_prep

WARMUP_METRICS = ("loss", "accuracy")
WARMUP_STREAM = 11  # the augmentation stream of the warm-up batches (as the one-network loop)


def _checked(outputs, names):
    """The metrics the guard checks, {net{k}/name: value}, of the networks' outputs."""
    return {f"net{k + 1}/{name}": m[name] for k, m in enumerate(outputs) for name in names}


def _keep(ok, value):
    return tf.where(ok, value, tf.zeros_like(value))


def build(trainer):
    """(warmup_loop(iterators, n), cotrain_loop(iterators, n)) of a CoTrainer; sets its
    `warmup_guard` and `cotrain_guard` (train/nonfinite.py)."""
    preps = [make_prep(lr, trainer.data.mean, trainer.data.std, trainer.exp.data.augment) for lr in trainer.learners]
    return _warmup(trainer, preps), _cotrain(trainer, preps)


def _warmup(trainer, preps):
    strategy, learners = trainer.strategy, trainer.learners
    dtype = learners[0].dtype
    guard = trainer.warmup_guard = nonfinite.for_learners(trainer.exp.run.on_nonfinite, learners,
                                                          WARMUP_METRICS)

    def warm(k):
        return lambda x, y: learners[k].warmup_step(preps[k](x, WARMUP_STREAM), y)

    warm_steps = [warm(k) for k in (0, 1)]

    def warmup(iterators, n):
        def iteration():
            out = [distribute.run_step(strategy, warm_steps[k], tuple(next(its)))
                   for k, its in enumerate(iterators)]
            out = [{name: tf.cast(m[name], dtype) for name in WARMUP_METRICS} for m in out]
            return _checked(out, WARMUP_METRICS), out

        def add(sums, out, ok):
            return tuple({name: s[name] + _keep(ok, m[name]) for name in WARMUP_METRICS}
                         for s, m in zip(sums, out))
        init = tuple({name: tf.zeros([], dtype) for name in WARMUP_METRICS} for _ in (0, 1))
        return nonfinite.guarded_loop(guard, n, iteration, add, init)

    return tf.function(warmup, autograph=False)


def _cotrain(trainer, preps):
    from famus_tf.cotrain.step import CoStep
    strategy, data, exp = trainer.strategy, trainer.data, trainer.exp
    learners, models_ = trainer.learners, trainer.models
    dtype, nc = learners[0].dtype, trainer.num_candidates
    parts = 2 if exp.cotrain.labeled_rows_only else 4  # the rows a step trains on (step.py)
    rows = parts * exp.data.batch_size // strategy.num_replicas_in_sync
    costeps = [CoStep(learners[k], models_[1 - k], exp.cotrain, data.num_classes, preps[k],
                      network=k) for k in (0, 1)]
    names = costeps[0].scalar_metrics()
    checked = names + (["example_weights"] if trainer.with_meta else [])
    guard = trainer.cotrain_guard = nonfinite.for_learners(exp.run.on_nonfinite, learners, checked)

    def co(k):
        def step(lab, unl, meta=None):
            m = costeps[k](lab, unl, meta, tf.identity(trainer.lambda_u))
            return ({name: tf.cast(m.get(name, tf.zeros([], dtype)), dtype) for name in names},
                    tf.cast(m.get("gates", tf.zeros([nc], dtype)), dtype),
                    tf.cast(m.get("example_weights", tf.zeros([rows], dtype)), dtype), m["is_clean"])
        return step

    co_steps = [co(k) for k in (0, 1)]

    def cotrain(iterators, n):
        def iteration():
            out = [distribute.run_step(strategy, co_steps[k],
                                       tuple(tuple(next(it)) for it in its if it is not None))
                   for k, its in enumerate(iterators)]
            return _checked([dict(m, example_weights=w) for m, _, w, _ in out], checked), out

        def add(state, out, ok):
            return tuple(({name: s[0][name] + _keep(ok, m[name]) for name in names},
                          s[1] + _keep(ok, g), w, c) for s, (m, g, w, c) in zip(state, out))
        init = tuple(({name: tf.zeros([], dtype) for name in names}, tf.zeros([nc], dtype),
                      tf.zeros([rows], dtype), tf.zeros([rows], tf.bool)) for _ in (0, 1))
        return nonfinite.guarded_loop(guard, n, iteration, add, init)

    return tf.function(cotrain, autograph=False)
