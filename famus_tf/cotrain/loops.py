"""The compiled multi-step loops of Algorithm 2 (one tf.function call runs n iterations,
as train/loop.py's `_multi_step`): the warm-up loop (network 1's plain CE step, then
network 2's) and the co-training loop (network 1's co-training step on its labeled,
unlabeled and meta batches, then network 2's). The iterators are arguments, so a new
epoch's streams do not retrace. Each returns, per network, the sums of its scalar
metrics, its summed gates, and its last batch's example weights and clean mask (first
replica).
"""
import tensorflow as tf

from famus_tf.data import augment, pipeline
from famus_tf.meta import replicas
from famus_tf.train import distribute

WARMUP_METRICS = ("loss", "accuracy")
WARMUP_STREAM = 11  # the augmentation stream of the warm-up batches (as the one-network loop)


def make_prep(learner, data, augmentation):
    """prep(images uint8, stream) -> normalised, augmented float images; the draws are a
    function of (learner's step, stream, replica) (famus_tf/counter_rng.py)."""
    def prep(x, stream):
        x = pipeline.preprocess(x, data.mean, data.std, learner.dtype)
        stream = stream + 1000 * replicas.replica_id()
        return augment.apply(augmentation, x, learner.optimizer.iterations, stream)
    return prep


def _loop(body, init):
    def run(n):
        return tf.while_loop(lambda i, *_: i < n, lambda i, *s: (i + 1,) + body(*s), (tf.constant(0),) + init)[1:]
    return run


def build(trainer):
    """(warmup_loop(iterators, n), cotrain_loop(iterators, n)) of a CoTrainer."""
    strategy, data, exp = trainer.strategy, trainer.data, trainer.exp
    learners, models_ = trainer.learners, trainer.models
    dtype = learners[0].dtype
    preps = [make_prep(lr, data, exp.data.augment) for lr in learners]
    nc = trainer.num_candidates
    rows = 4 * exp.data.batch_size // strategy.num_replicas_in_sync

    def warm(k):
        return lambda x, y: learners[k].warmup_step(preps[k](x, WARMUP_STREAM), y)

    warm_steps = [warm(k) for k in (0, 1)]

    def warmup(iterators, n):
        def body(sums):
            out = []
            for k, its in enumerate(iterators):
                m = distribute.run_step(strategy, warm_steps[k], tuple(next(its)))
                out.append({name: sums[k][name] + tf.cast(m[name], dtype) for name in WARMUP_METRICS})
            return (tuple(out),)
        init = (tuple({name: tf.zeros([], dtype) for name in WARMUP_METRICS} for _ in (0, 1)),)
        return _loop(body, init)(n)[0]

    from famus_tf.cotrain.step import CoStep
    costeps = [CoStep(learners[k], models_[1 - k], exp.cotrain, data.num_classes, preps[k],
                      network=k) for k in (0, 1)]
    names = costeps[0].scalar_metrics()

    def co(k):
        def step(lab, unl, meta=None):
            m = costeps[k](lab, unl, meta, tf.identity(trainer.lambda_u))
            return ({name: tf.cast(m.get(name, tf.zeros([], dtype)), dtype) for name in names},
                    tf.cast(m.get("gates", tf.zeros([nc], dtype)), dtype),
                    tf.cast(m.get("example_weights", tf.zeros([rows], dtype)), dtype), m["is_clean"])
        return step

    co_steps = [co(k) for k in (0, 1)]

    def cotrain(iterators, n):
        def body(state):
            out = []
            for k, its in enumerate(iterators):
                args = tuple(tuple(next(it)) for it in its if it is not None)
                m, g, w, c = distribute.run_step(strategy, co_steps[k], args)
                s = state[k]
                out.append(({name: s[0][name] + m[name] for name in names}, s[1] + g, w, c))
            return (tuple(out),)
        init = (tuple(({name: tf.zeros([], dtype) for name in names}, tf.zeros([nc], dtype),
                       tf.zeros([rows], dtype), tf.zeros([rows], tf.bool)) for _ in (0, 1)),)
        return _loop(body, init)(n)[0]

    return (tf.function(warmup, autograph=False), tf.function(cotrain, autograph=False))
