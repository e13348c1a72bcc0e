"""--actual_step=reuse (meta/actual.py) against a hand-lagged reference, float64.

The reference iteration, written from the definition: v (MW-Net: the normalised
weighting-net output on the per-example losses; MLC: T) from the meta model BEFORE this
step's meta update; the actual step is PyTorch-style SGD (Nesterov momentum, coupled
weight decay) with the tape gradient of the written-out training loss sum_i v_i l_i
(MLC: sum_i CE(z_i T, y_i); Algorithm 2: the co-training loss of ALGORITHM.md §8 step 4)
at w; the meta update (and the samplers', with FaMUS) is the paper step's, taken by a
`recompute` learner from the same state, whose base weights are then overwritten with the
reference's. After several steps every variable of the `reuse` learner must match.
"""
import keras
import numpy as np
import pytest
import tensorflow as tf

from famus_tf.config import CotrainConfig, MetaConfig, OptimConfig
from famus_tf.cotrain import losses as cotrain_losses
from famus_tf.meta import actual
from famus_tf.meta import functional as fn
from famus_tf.meta.step import MetaLearner
from famus_tf.train import nonfinite
from tests import meta_fixtures as mf

LR, MOMENTUM, WD = 0.25, 0.5, 5e-4  # LR and MOMENTUM are exact in float32 (Keras' SGD)
FAMUS = dict(famus=True, candidates="all", num_active=2, lambda_g=0.1)
FULL = dict(famus=False, lambda_g=0.0)


@pytest.fixture(scope="module", autouse=True)
def _float64():
    mf.float64()
    yield
    mf.float32()


def _learner(method, kind, mode, cotrain=False, **extra):
    keras.utils.set_random_seed(0)
    build, shape = mf.MODELS[kind]
    meta = MetaConfig(method=method, head_prefix="head", meta_lr=0.5, meta_weight_decay=1e-3,
                      sampler_lr=0.1, seed=3, actual_step=mode, **extra)
    cfg = CotrainConfig(meta_set="pseudo_clean" if cotrain else "clean")
    return MetaLearner(build(4), 4, meta, OptimConfig(lr=LR, momentum=MOMENTUM, weight_decay=WD),
                       cotrain=cfg), shape


def _batch(shape, seed, cotrain):
    if not cotrain:
        return mf.batches(shape, n=12, m=6, seed=seed)
    rng = np.random.default_rng(seed)

    def soft(n):
        z = np.exp(3 * rng.normal(size=(n, 4)))
        return tf.constant(z / z.sum(-1, keepdims=True))

    sup = cotrain_losses.Supervision(soft(12), soft(12), tf.constant([1.0] * 6 + [0.0] * 6),
                                     tf.constant(3.0, tf.float64))
    return (tf.constant(rng.normal(size=(12,) + shape)), sup,
            tf.constant(rng.normal(size=(6,) + shape)), soft(6))


def _training_loss(learner, logits, labels):
    """sum_i v_i l_i with v (or T) from the meta model as it is now, held constant."""
    if learner.meta.method == "mlc":
        t = tf.constant(learner.method.transition.numpy())
        return tf.reduce_sum(fn.per_example_ce(logits @ t, labels))
    if isinstance(labels, cotrain_losses.Supervision):
        cost = -tf.reduce_sum(labels.targets * tf.nn.log_softmax(logits), -1)
    else:
        cost = fn.per_example_ce(logits, labels)
    v = tf.reshape(learner.method.net(tf.stop_gradient(cost)[:, None]), [-1])
    v = tf.stop_gradient(v / tf.reduce_sum(v))
    if isinstance(labels, cotrain_losses.Supervision):
        return cotrain_losses.virtual_loss(v, logits, labels)
    return tf.reduce_sum(v * cost)


def _reference_step(ref, buf, batch):
    """The lagged step: SGD on the loss with the current meta model, then the paper
    step's meta update (ref.train_step), whose own actual step is overwritten."""
    x, labels = batch[0], batch[1]
    model = ref.model
    w = [tf.constant(v.numpy()) for v in model.trainable_variables]
    with tf.GradientTape() as tape:
        tape.watch(w)
        logits = model.stateless_call(w, fn.non_trainable_values(model), x, training=True)[0]
        loss = _training_loss(ref, logits, labels)
    grads = [g + WD * p for g, p in zip(tape.gradient(loss, w), w)]
    buf = [MOMENTUM * b + g for b, g in zip(buf, grads)]
    new_w = [p - LR * (g + MOMENTUM * b) for p, g, b in zip(w, grads, buf)]
    out = ref.train_step(*batch)
    for var, value in zip(model.trainable_variables, new_w):
        var.assign(value)
    return buf, out


def _state(learner):
    out = [v.numpy() for v in learner.model.variables]
    out += [v.numpy() for v in learner.method.meta_variables]
    return out + [v.numpy() for v in learner.sampler_variables]


@pytest.mark.parametrize("method,kind,extra,cotrain", [
    ("mwnet", "mlp", FULL, False), ("mwnet", "mlp", FAMUS, False), ("mwnet", "cnn", FAMUS, False),
    ("mlc", "mlp", FULL, False), ("mlc", "mlp", FAMUS, False), ("mwnet", "mlp", FAMUS, True)])
def test_reuse_equals_the_lagged_reference(method, kind, extra, cotrain):
    reuse, shape = _learner(method, kind, "reuse", cotrain, **extra)
    ref, _ = _learner(method, kind, "recompute", cotrain, **extra)
    paper, _ = _learner(method, kind, "recompute", cotrain, **extra)
    buf = [tf.zeros_like(v) for v in ref.model.trainable_variables]
    step = tf.function(reuse.train_step, autograph=False)
    for seed in range(3):
        batch = _batch(shape, seed, cotrain)
        theta_before = [v.numpy() for v in reuse.method.meta_variables]
        out = step(*batch)
        buf, out_ref = _reference_step(ref, buf, batch)
        paper.train_step(*batch)
        for key in ("val_loss", "loss", "gates"):
            if key in out_ref:
                np.testing.assert_allclose(out[key], out_ref[key], rtol=1e-10, atol=1e-12)
        for a, b in zip(_state(reuse), _state(ref)):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
        # the meta model moved in this step (its update reaches w only in the next one)
        assert max(np.abs(a - b).max() for a, b in zip(theta_before, reuse.method.meta_variables)) > 1e-6
    # and reuse is a different method from the paper's step
    diff = max(np.abs(a.numpy() - b.numpy()).max()
               for a, b in zip(reuse.model.trainable_variables, paper.model.trainable_variables))
    assert diff > 1e-8


def test_combinations_that_cannot_reuse_are_refused():
    with pytest.raises(ValueError, match="--actual_step=reuse: L2R"):
        actual.check("l2r", "reuse")
    with pytest.raises(ValueError, match="--mlc_update=learned"):
        actual.check("mlc", "reuse", "official")
    with pytest.raises(ValueError, match="--actual_step"):
        actual.check("mwnet", "bogus")
    for method in ("plain", "mwnet", "mlc", "l2r"):
        actual.check(method, "recompute")
    with pytest.raises(ValueError, match="L2R"):
        MetaLearner(mf.tiny_mlp(), 4, MetaConfig(method="l2r", actual_step="reuse"))


def test_the_nonfinite_guard_covers_the_reused_update():
    """An infinite base learning rate with a finite virtual one: every loss of the step is
    finite and only the reused update is not; the guard names it and skip mode undoes it."""
    keras.utils.set_random_seed(0)
    learner = MetaLearner(mf.tiny_mlp(), 4, MetaConfig(method="mwnet", famus=False,
                                                       actual_step="reuse"),
                          OptimConfig(lr=float("inf"), virtual_lr=0.1))
    guard = nonfinite.for_learner("skip", learner)
    before = _state(learner)

    @tf.function(autograph=False)
    def step(*batch):
        snap = guard.snapshot()
        out = learner.train_step(*batch)
        code = guard.check(out)
        with tf.control_dependencies([guard.undo(code, snap)]):
            return tf.identity(code), out["val_loss"]

    code, val_loss = step(*mf.batches((6,), seed=0))
    assert np.isfinite(float(val_loss))
    assert guard.describe(int(code)) == "base network update"
    for a, b in zip(before, _state(learner)):
        np.testing.assert_array_equal(a, b)
