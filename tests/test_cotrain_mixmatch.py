"""Sharpening, co-refinement, co-guessing and MixUp (famus_tf/cotrain/mixmatch.py)
against direct numpy formulas."""
import numpy as np
import pytest
import tensorflow as tf
from scipy import special, stats

from famus_tf.cotrain import mixmatch
from famus_tf.train import distribute


def _probs(rng, n, c=5):
    z = rng.normal(size=(n, c))
    return np.exp(z) / np.exp(z).sum(1, keepdims=True)


def _np_sharpen(p, t):
    q = p ** (1 / t)
    return q / q.sum(1, keepdims=True)


def test_sharpen():
    p = _probs(np.random.default_rng(0), 6)
    for t in (0.5, 0.25, 1.0):
        np.testing.assert_allclose(mixmatch.sharpen(tf.constant(p), t).numpy(), _np_sharpen(p, t),
                                   rtol=1e-12)
    np.testing.assert_allclose(mixmatch.sharpen(tf.constant(p), 1.0).numpy(), p, rtol=1e-12)


def test_refine_and_co_guess():
    rng = np.random.default_rng(1)
    n, c = 8, 5
    pa1, pa2, pb1, pb2 = (_probs(rng, n, c) for _ in range(4))
    y = rng.integers(0, c, n)
    w = rng.random(n)
    onehot = np.eye(c)[y]
    want = _np_sharpen(w[:, None] * onehot + (1 - w[:, None]) * (pa1 + pa2) / 2, 0.5)
    got = mixmatch.refine(tf.constant(y), tf.constant(w), tf.constant(pa1), tf.constant(pa2))
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)
    got_onehot = mixmatch.refine(tf.constant(onehot), tf.constant(w), tf.constant(pa1), tf.constant(pa2))
    np.testing.assert_allclose(got_onehot.numpy(), want, rtol=1e-12)
    # c = 1: the (sharpened) noisy label itself; c = 0: the sharpened prediction
    ones = mixmatch.refine(tf.constant(y), tf.ones(n, tf.float64), tf.constant(pa1), tf.constant(pa2))
    np.testing.assert_allclose(ones.numpy(), onehot, atol=1e-15)
    guess = mixmatch.co_guess(*(tf.constant(p) for p in (pa1, pa2, pb1, pb2)))
    np.testing.assert_allclose(guess.numpy(), _np_sharpen((pa1 + pa2 + pb1 + pb2) / 4, 0.5), rtol=1e-12)

    args = (tf.constant(y), tf.constant(w), (tf.constant(pa1), tf.constant(pa2)),
            (tf.constant(pb1), tf.constant(pb2)))
    for labeled in (True, False):  # FaMUS code: refined label and co-guess for both parts
        t, g = mixmatch.part_targets(*args, labeled=labeled, recipe="famus")
        np.testing.assert_allclose(t.numpy(), want, rtol=1e-12)
        np.testing.assert_allclose(g.numpy(), guess.numpy(), rtol=1e-12)
    t, g = mixmatch.part_targets(*args, labeled=True, recipe="dividemix")
    np.testing.assert_allclose(g.numpy(), want, rtol=1e-12)
    np.testing.assert_allclose(t.numpy(), want, rtol=1e-12)
    t, g = mixmatch.part_targets(*args, labeled=False, recipe="dividemix")
    np.testing.assert_allclose(t.numpy(), guess.numpy(), rtol=1e-12)
    np.testing.assert_allclose(g.numpy(), guess.numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match="recipe"):
        mixmatch.part_targets(*args, labeled=True, recipe="mixmatch")


def _batch(rng, b=3, c=4, dtype=np.float64):
    x1, x2, u1, u2 = (rng.normal(size=(b, 2, 2, 1)).astype(dtype) for _ in range(4))
    tx, gx, tu, gu = (_probs(rng, b, c).astype(dtype) for _ in range(4))
    batch = mixmatch.assemble((x1, x2, tf.constant(tx), tf.constant(gx)),
                              (u1, u2, tf.constant(tu), tf.constant(gu)))
    return batch, (x1, x2, u1, u2, tx, gx, tu, gu)


def test_assemble_layout():
    batch, (x1, x2, u1, u2, tx, gx, tu, gu) = _batch(np.random.default_rng(2))
    np.testing.assert_array_equal(batch.inputs.numpy(), np.concatenate([x1, x2, u1, u2]))
    np.testing.assert_array_equal(batch.targets.numpy(), np.concatenate([tx, tx, tu, tu]))
    np.testing.assert_array_equal(batch.guesses.numpy(), np.concatenate([gx, gx, gu, gu]))
    np.testing.assert_array_equal(batch.labeled.numpy(), [1.0] * 6 + [0.0] * 6)
    meta = mixmatch.assemble((x1, x2, tf.constant(tx), tf.constant(gx)))
    np.testing.assert_array_equal(meta.labeled.numpy(), np.ones(6))


@pytest.mark.parametrize("alpha", [0.75, 1.5, 4.0])
def test_lambda_is_max_of_a_beta_draw(alpha):
    u = np.linspace(0.001, 0.999, 50)
    lam = mixmatch.beta_max_inverse(tf.constant(u), alpha).numpy()
    np.testing.assert_allclose(special.betainc(alpha, alpha, lam), (1 + u) / 2, atol=1e-12)
    assert np.all(lam >= 0.5) and np.all(np.diff(lam) > 0)
    first = tf.function(lambda s: mixmatch.draw(4, alpha, s, 7)[0], autograph=False)
    draws = np.array([float(first(tf.constant(s))) for s in range(400)])
    # the draws follow P(lambda' <= t) = 2 F(t) - 1 (deterministic: counter-based)
    ks = stats.kstest(draws, lambda t: 2 * stats.beta.cdf(t, alpha, alpha) - 1)
    assert ks.pvalue > 0.01


def test_lambda_with_alpha_one_is_uniform_on_half_one():
    u = np.linspace(0.01, 0.99, 9)
    np.testing.assert_allclose(mixmatch.beta_max_inverse(tf.constant(u), 1.0).numpy(), (1 + u) / 2,
                               atol=1e-13)


def test_mixup_against_numpy_and_counter_based_draws():
    batch, _ = _batch(np.random.default_rng(3))
    mixed, lam = mixmatch.mix(batch, 1.5, step=tf.constant(5), stream=21)
    lam2, perm = mixmatch.draw(12, 1.5, 5, 21)
    assert float(lam) == float(lam2) and float(lam) >= 0.5
    perm = perm.numpy()
    assert sorted(perm) == list(range(12)) and np.any(perm != np.arange(12))
    lam = float(lam)
    for got, x in ((mixed.inputs, batch.inputs), (mixed.targets, batch.targets),
                   (mixed.guesses, batch.guesses)):
        x = x.numpy()
        np.testing.assert_allclose(got.numpy(), lam * x + (1 - lam) * x[perm], rtol=1e-12)
    np.testing.assert_array_equal(mixed.labeled.numpy(), batch.labeled.numpy())
    np.testing.assert_allclose(mixed.targets.numpy().sum(1), 1.0, rtol=1e-12)
    # same (step, stream): same draws; another step or stream: other draws
    again, lam_again = mixmatch.mix(batch, 1.5, step=5, stream=21)
    np.testing.assert_array_equal(again.inputs.numpy(), mixed.inputs.numpy())
    for step, stream in ((6, 21), (5, 22)):
        lam_o, perm_o = mixmatch.draw(12, 1.5, step, stream)
        assert float(lam_o) != lam and np.any(perm_o.numpy() != perm)


def test_mix_is_the_same_under_xla():
    batch, _ = _batch(np.random.default_rng(4), dtype=np.float32)
    eager, lam = mixmatch.mix(batch, 2.0, step=9, stream=3)
    fn = tf.function(lambda b, s: mixmatch.mix(b, 2.0, s, 3), jit_compile=True)
    xla, lam_xla = fn(batch, tf.constant(9, tf.int64))
    np.testing.assert_allclose(float(lam_xla), float(lam), rtol=1e-12)
    np.testing.assert_allclose(xla.inputs.numpy(), eager.inputs.numpy(), rtol=1e-6)


def test_mix_under_mirrored_strategy_equals_single_device():
    strategy = distribute.build_strategy("mirrored", distribute.logical_cpus(2))
    rng = np.random.default_rng(5)
    parts = [_batch(rng, b=2)[0] for _ in range(2)]  # each replica's own [x1, x2, u1, u2]
    glob = mixmatch.MixBatch(*(tf.concat([p[k] for p in parts], 0) for k in range(4)))
    want, lam = mixmatch.mix(glob, 1.5, step=3, stream=4)

    def replica(x, t, g, m):
        return mixmatch.mix(mixmatch.MixBatch(x, t, g, m), 1.5, tf.constant(3), 4)

    dist = distribute.distribute_batch(strategy, tuple(glob))
    out, lam_d = tf.function(lambda *b: strategy.run(replica, args=b), autograph=False)(*dist)
    for k in range(4):
        got = np.concatenate([t.numpy() for t in strategy.experimental_local_results(out[k])])
        np.testing.assert_allclose(got, want[k].numpy(), rtol=1e-12)
    for v in strategy.experimental_local_results(lam_d):
        assert float(v) == float(lam)
