"""Mixed precision (meta/precision.py): the meta-gradient and the sampler gradient under
mixed_bfloat16 / mixed_float16 agree with float32 on the same weights and batch; float16
loss scaling is unscaled exactly (the second-order scale matters), a step that overflows
is skipped and halves the scale; float16 refuses several replicas; the export serves
float32 logits; a bfloat16 run on the digits trains.

Bounds. A bfloat16 number carries 8 significant bits (relative rounding up to
2^-8 = 3.9e-3), float16 11 bits (4.9e-4). The meta-gradient is a forward pass, a
backward pass and a backward pass of that backward pass through three 16-bit conv+BN
layers, and each op rounds its result: the errors add up roughly as a random walk over
the O(10) roundings on each path, i.e. a few times to ten times the unit rounding
(measured on this network: dL/dphi 1.7e-2 bf16 and 6e-3 f16, dL/dtheta 1.2e-2 and
2e-3). We require relative error (||a - b|| / ||b||) below 5e-2 (bf16, 13 units) and
2e-2 (f16, 40 units: the float16 path also rounds S * delta and S^2 * c) and cosine
similarity above 0.999 / 0.9998. A wrong computation is far outside: the same
meta-gradient on a swapped train/validation batch has relative error 1.2 and cosine
-0.08, and float16 without the second-order loss scale (S^2 on the meta-gradient's
output gradients, precision.py) loses the small adjoints to underflow, 0.17 - both
checked to fail the bounds below.

The sampler gradient (FaMUS, lambda_r = 0 so that only the meta term is compared) is
ill-conditioned in any precision: its input is the per-output-channel mean of a conv
kernel's gradient, and a conv followed by BatchNorm has a gradient orthogonal to its
kernel, so that mean is a sum with heavy cancellation which amplifies the 16-bit
rounding of the elements (measured 0.15 bf16, 0.09 f16). The bounds are 0.3 / 0.2
relative and 0.97 / 0.99 cosine; with other base weights (garbage) it is 2.2 and 0.3.
"""
import numpy as np
import keras
import pytest
import tensorflow as tf

from famus_tf import models
from famus_tf.config import MetaConfig, OptimConfig
from famus_tf.meta import precision as precision_lib
from famus_tf.meta.step import MetaLearner
from famus_tf.train import distribute
from tests import meta_fixtures as mf

BOUNDS = {"mixed_bfloat16": (5e-2, 0.999), "mixed_float16": (2e-2, 0.9998)}
SAMPLER_BOUNDS = {"mixed_bfloat16": (0.3, 0.97), "mixed_float16": (0.2, 0.99)}


def _learner(precision, famus=False, seed=0):
    keras.utils.set_random_seed(seed)
    model = models.build_model("small_cnn", 10, (8, 8, 1), precision=precision)
    keras.utils.set_random_seed(1)
    meta = MetaConfig(method="mwnet", famus=famus, candidates="block:stage3", lambda_r=0.0)
    return MetaLearner(model, 10, meta, OptimConfig(lr=0.1))


def _batch(seed=0):
    rng = np.random.default_rng(seed)
    x = tf.constant(rng.normal(size=(32, 8, 8, 1)), tf.float32)
    xv = tf.constant(rng.normal(size=(32, 8, 8, 1)), tf.float32)
    return x, tf.constant(rng.integers(0, 10, 32)), xv, tf.constant(rng.integers(0, 10, 32))


def _compare(a, b):
    """(relative error ||a - b|| / ||b||, cosine similarity) of two lists of tensors."""
    a = np.concatenate([np.ravel(t) for t in a]).astype(np.float64)
    b = np.concatenate([np.ravel(t) for t in b]).astype(np.float64)
    return np.linalg.norm(a - b) / np.linalg.norm(b), a @ b / np.linalg.norm(a) / np.linalg.norm(b)


def _within(result, bounds):
    (rel, cos), (max_rel, min_cos) = result, bounds
    return rel < max_rel and cos > min_cos


@pytest.fixture(scope="module")
def reference():
    batch = _batch()
    return batch, _learner("float32").meta_gradient(*batch)


@pytest.mark.parametrize("precision", ["mixed_bfloat16", "mixed_float16"])
def test_meta_gradient_agrees_with_float32(reference, precision):
    batch, ref = reference
    learner = _learner(precision)
    assert learner.model.trainable_variables[0].dtype == "float32"
    assert precision_lib.compute_dtype(learner.model) != tf.float32
    out = learner.meta_gradient(*batch)
    assert out["d_phi"].dtype == tf.float32 and out["theta"][0].dtype == tf.float32
    d_phi = _compare([out["d_phi"]], [ref["d_phi"]])
    theta = _compare(out["theta"], ref["theta"])
    assert _within(d_phi, BOUNDS[precision]), d_phi
    assert _within(theta, BOUNDS[precision]), theta
    # a wrong meta-gradient (train and validation batches swapped) fails the bounds
    x, y, xv, yv = batch
    wrong = _compare([learner.meta_gradient(xv, yv, x, y)["d_phi"]], [ref["d_phi"]])
    assert not _within(wrong, BOUNDS[precision]) and wrong[0] > 10 * d_phi[0], wrong


def test_float16_meta_gradient_needs_the_second_order_scale(reference):
    """Without S^2 on the meta-gradient's output gradients the float16 adjoints underflow
    and the result fails the bounds the scaled one meets."""
    batch, ref = reference
    learner = _learner("mixed_float16")
    learner.precision.second_order_scale = lambda: None
    assert not _within(_compare([learner.meta_gradient(*batch)["d_phi"]], [ref["d_phi"]]),
                       BOUNDS["mixed_float16"])


def _sampler_step(learner, batch):
    """The sampler variables' change in one step (SGD's first step: -(1 + mu) lr g) and the gates."""
    before = [v.numpy().copy() for v in learner.sampler_variables]
    out = learner.train_step(*batch)
    return [v.numpy() - b for v, b in zip(learner.sampler_variables, before)], out["gates"].numpy()


@pytest.mark.parametrize("precision", ["mixed_bfloat16", "mixed_float16"])
def test_sampler_gradient_agrees_with_float32(precision):
    batch = _batch()
    ref, gates = _sampler_step(_learner("float32", famus=True), batch)
    out, gates16 = _sampler_step(_learner(precision, famus=True), batch)
    np.testing.assert_array_equal(gates16, gates)
    result = _compare(out, ref)
    assert _within(result, SAMPLER_BOUNDS[precision]), result
    other, _ = _sampler_step(_learner("float32", famus=True, seed=5), batch)
    assert not _within(_compare(other, ref), SAMPLER_BOUNDS[precision])


def _tiny(precision, strategy=None):
    """The tiny conv+BN network of meta_fixtures (float32 variables) with MW-Net + FaMUS."""
    keras.utils.set_random_seed(0)
    with (strategy or tf.distribute.get_strategy()).scope():
        with precision_lib.policy_scope(precision):
            model = mf.tiny_cnn()
        return MetaLearner(model, 4, MetaConfig(method="mwnet", famus=True, candidates="all",
                                                num_active=2), OptimConfig(lr=0.1))


def _tiny_batch(seed):
    x, y, xv, yv = mf.batches((6, 6, 1), n=12, m=6, seed=seed)
    return tf.cast(x, tf.float32), y, tf.cast(xv, tf.float32), yv


def test_float16_overflow_skips_the_step_and_halves_the_scale(monkeypatch):
    monkeypatch.setattr(precision_lib, "GROWTH_INTERVAL", 2)
    learner = _tiny("mixed_float16")
    step = tf.function(learner.train_step, autograph=False)
    state = lambda: [v.numpy().copy() for v in learner.model.variables  # noqa: E731
                     + list(learner.method.meta_variables) + learner.sampler_variables]
    before = state()
    learner.precision.scale.assign(2.0 ** 20)  # S * dL/dlogits overflows float16
    out = step(*_tiny_batch(0))
    assert np.isfinite(out["loss"].numpy()) and np.isfinite(out["val_loss"].numpy())
    for a, b in zip(state(), before):
        np.testing.assert_array_equal(a, b)  # nothing was updated (not even BN statistics)
    assert learner.precision.scale.numpy() == 2.0 ** 19 and learner.precision.good_steps.numpy() == 0
    learner.precision.scale.assign(2.0 ** 10)
    step(*_tiny_batch(1))
    assert learner.precision.good_steps.numpy() == 1
    assert not np.array_equal(state()[0], before[0])
    step(*_tiny_batch(2))  # the second good step in a row: the scale doubles
    assert learner.precision.scale.numpy() == 2.0 ** 11 and learner.precision.good_steps.numpy() == 0
    assert "loss_scale" in learner.trackables()


def test_float16_refuses_several_replicas():
    mirrored = distribute.build_strategy("mirrored", distribute.logical_cpus(2))
    with pytest.raises(ValueError, match="mixed_float16"):
        _tiny("mixed_float16", mirrored)


def test_export_serves_float32_logits(tmp_path):
    from famus_tf.train.export import export_classifier
    learner = _learner("mixed_bfloat16")
    path = export_classifier(learner.model, str(tmp_path / "export"), [0.0], [1.0], (8, 8, 1))
    images = np.random.default_rng(0).integers(0, 256, (4, 8, 8, 1)).astype(np.uint8)
    served = tf.saved_model.load(path).signatures["serving_default"](images=tf.constant(images))
    assert served["logits"].dtype == tf.float32
    from famus_tf.data import pipeline
    direct = learner.model(pipeline.preprocess(tf.constant(images), [0.0], [1.0], tf.float32),
                           training=False)
    assert direct.dtype == tf.bfloat16
    np.testing.assert_allclose(served["logits"].numpy(), tf.cast(direct, tf.float32).numpy(),
                               rtol=2e-2, atol=2e-2)


def test_bfloat16_trains_on_the_digits():
    """Forty MW-Net + FaMUS steps of the digits CNN under mixed_bfloat16 reach a test
    accuracy far above chance (10%)."""
    from sklearn.datasets import load_digits
    digits = load_digits()
    x = (digits.images[..., None] / 16.0 - 0.5).astype(np.float32)
    y = digits.target.astype(np.int64)
    learner = _learner("mixed_bfloat16", famus=True)
    step = tf.function(learner.train_step, autograph=False)
    rng = np.random.default_rng(0)
    for _ in range(40):
        i, j = rng.choice(1500, 32, replace=False), rng.choice(1500, 32, replace=False)
        step(x[i], y[i], x[j], y[j])
    logits = learner.model(x[1500:], training=False)
    accuracy = np.mean(np.argmax(logits.numpy(), -1) == y[1500:])
    assert accuracy > 0.3, accuracy
