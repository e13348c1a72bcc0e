"""The virtual loss of Algorithm 2 and its per-example logit gradients
(famus_tf/cotrain/losses.py): values against the official formula written in numpy,
logit gradients and their derivative in the weights against GradientTape (float64)."""
import numpy as np
import pytest
import tensorflow as tf

from famus_tf.cotrain import losses
from famus_tf.train import distribute

B, C = 3, 5  # 4B rows: [x1, x2, u1, u2]


def _softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def _case(seed=0, lambda_u=7.0):
    rng = np.random.default_rng(seed)
    n = 4 * B
    logits = rng.normal(size=(n, C)) * 2
    targets = _softmax(rng.normal(size=(n, C)) * 3)
    guesses = _softmax(rng.normal(size=(n, C)) * 3)
    v = rng.random(n)
    v /= v.sum()
    labeled = np.array([1.0] * (2 * B) + [0.0] * (2 * B))
    sup = losses.Supervision(tf.constant(targets), tf.constant(guesses), tf.constant(labeled),
                             tf.constant(lambda_u, tf.float64))
    return tf.constant(v), tf.constant(logits), sup


def _official(v, logits, sup):
    """ALGORITHM.md §8 step 4, as the official code writes it (first 2B rows labeled)."""
    v, z = v.numpy(), logits.numpy()
    t, g, lam = sup.targets.numpy(), sup.guesses.numpy(), float(sup.lambda_u)
    p = _softmax(z)
    cost = -np.sum(t * np.log(p), 1)
    mse = np.mean((p - g) ** 2, 1)
    half = len(v) // 2
    prior = np.full(C, 1.0 / C)
    penalty = np.sum(prior * np.log(prior / p.mean(0)))
    return 2 * np.sum(v[:half] * cost[:half]) + 2 * lam * np.sum(v[half:] * mse[half:]) + penalty, penalty


def test_virtual_loss_is_the_official_formula():
    v, logits, sup = _case()
    want, penalty = _official(v, logits, sup)
    np.testing.assert_allclose(float(losses.virtual_loss(v, logits, sup)), want, rtol=1e-12)
    np.testing.assert_allclose(float(losses.prior_penalty(logits)), penalty, rtol=1e-12)
    np.testing.assert_allclose(float(losses.virtual_loss(v, logits, sup, prior=False)),
                               want - penalty, rtol=1e-12)
    # uniform weights: mean labeled CE + lambda_u * mean unlabeled MSE + prior (DivideMix's loss)
    u = tf.fill([4 * B], tf.constant(1.0 / (4 * B), tf.float64))
    p = _softmax(logits.numpy())
    cost = -np.sum(sup.targets.numpy() * np.log(p), 1)
    mse = np.mean((p - sup.guesses.numpy()) ** 2, 1)
    divide_mix = cost[:2 * B].mean() + 7.0 * mse[2 * B:].mean() + penalty
    np.testing.assert_allclose(float(losses.virtual_loss(u, logits, sup)), divide_mix,
                               rtol=1e-12)


def test_all_labeled_rows_need_no_factor_two():
    """The labeled rows alone (lambda_u = 0, cotrain/step.py): L(v) = sum_i v_i cost_i + P,
    with uniform weights the mean CE + prior; the logit gradients follow."""
    v, logits, sup = _case(seed=8, lambda_u=0.0)
    rows = slice(0, 2 * B)
    v = v[rows] / tf.reduce_sum(v[rows])
    z = logits[rows]
    sup = losses.Supervision(sup.targets[rows], sup.guesses[rows], sup.labeled[rows], sup.lambda_u)
    p = _softmax(z.numpy())
    cost = -np.sum(sup.targets.numpy() * np.log(p), 1)
    prior = np.full(C, 1.0 / C)
    penalty = np.sum(prior * np.log(prior / p.mean(0)))
    np.testing.assert_allclose(float(losses.virtual_loss(v, z, sup)),
                               np.sum(v.numpy() * cost) + penalty, rtol=1e-12)
    u = tf.fill([2 * B], tf.constant(1.0 / (2 * B), tf.float64))
    np.testing.assert_allclose(float(losses.virtual_loss(u, z, sup)), cost.mean() + penalty,
                               rtol=1e-12)
    with tf.GradientTape() as tape:
        tape.watch(z)
        loss = losses.virtual_loss(v, z, sup)
    np.testing.assert_allclose(losses.virtual_logit_grads(v, z, sup).numpy(),
                               tape.gradient(loss, z).numpy(), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("prior", [True, False])
def test_logit_grads_match_gradient_tape(prior):
    v, logits, sup = _case(seed=1)
    with tf.GradientTape() as tape:
        tape.watch(logits)
        loss = losses.virtual_loss(v, logits, sup, prior=prior)
    want = tape.gradient(loss, logits)
    got = losses.virtual_logit_grads(v, logits, sup, prior=prior)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-10, atol=1e-14)


def test_parts_of_the_logit_grads():
    v, logits, sup = _case(seed=2)
    for fn, closed in ((losses.prior_penalty, losses.prior_logit_grads(logits)),
                       (lambda z: tf.reduce_sum(losses.per_example_mse(z, sup.guesses)),
                        losses.mse_logit_grads(logits, sup.guesses))):
        with tf.GradientTape() as tape:
            tape.watch(logits)
            value = fn(logits)
        np.testing.assert_allclose(closed.numpy(), tape.gradient(value, logits).numpy(), rtol=1e-10,
                                   atol=1e-15)


def test_derivative_of_the_logit_grads_in_the_weights():
    """d/dv <dL/dz(v), R> from the closed form equals the double backward of the loss."""
    v, logits, sup = _case(seed=3)
    r = tf.constant(np.random.default_rng(9).normal(size=(4 * B, C)))
    with tf.GradientTape() as outer:
        outer.watch(v)
        with tf.GradientTape() as inner:
            inner.watch(logits)
            loss = losses.virtual_loss(v, logits, sup)
        tape_grads = inner.gradient(loss, logits)
        tape_dot = tf.reduce_sum(tape_grads * r)
    want = outer.gradient(tape_dot, v)
    with tf.GradientTape() as tape:
        tape.watch(v)
        closed_dot = tf.reduce_sum(losses.virtual_logit_grads(v, logits, sup) * r)
    got = tape.gradient(closed_dot, v)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-10, atol=1e-15)
    # and by finite differences (the logit gradients are linear in v)
    eps = 1e-6
    for i in (0, 2 * B + 1):
        dv = tf.one_hot(i, 4 * B, dtype=tf.float64) * eps
        fd = (tf.reduce_sum(losses.virtual_logit_grads(v + dv, logits, sup) * r)
              - tf.reduce_sum(losses.virtual_logit_grads(v - dv, logits, sup) * r)) / (2 * eps)
        np.testing.assert_allclose(float(fd), float(got[i]), rtol=1e-7)


def test_meta_loss():
    _, logits, sup = _case(seed=4)
    p = _softmax(logits.numpy())
    cost = -np.sum(sup.targets.numpy() * np.log(p), 1)
    prior = np.full(C, 1.0 / C)
    want = cost.mean() + np.sum(prior * np.log(prior / p.mean(0)))
    np.testing.assert_allclose(float(losses.meta_loss(logits, sup.targets)), want, rtol=1e-12)
    np.testing.assert_allclose(float(losses.meta_loss(logits, sup.targets, prior=False)), cost.mean(),
                               rtol=1e-12)


def test_replica_contributions_sum_to_the_single_device_values():
    strategy = distribute.build_strategy("mirrored", distribute.logical_cpus(2))
    v, logits, sup = _case(seed=5)
    single = (losses.virtual_loss(v, logits, sup), losses.virtual_logit_grads(v, logits, sup),
              losses.meta_loss(logits, sup.targets))

    def replica(v, z, t, g, m, lam):
        s = losses.Supervision(t, g, m, lam[0])
        with tf.GradientTape() as tape:  # through the all-sum of the prior's mean softmax
            tape.watch(z)
            contribution = losses.virtual_loss(v, z, s)
        return (contribution, losses.virtual_logit_grads(v, z, s), losses.meta_loss(z, t),
                tape.gradient(contribution, z))

    lam = tf.fill([4 * B], sup.lambda_u)
    dist = distribute.distribute_batch(strategy, (v, logits) + tuple(sup[:3]) + (lam,))
    out = tf.function(lambda *b: strategy.run(replica, args=b), autograph=False)(*dist)
    local = [strategy.experimental_local_results(o) for o in out]
    np.testing.assert_allclose(sum(float(x) for x in local[0]), float(single[0]), rtol=1e-12)
    np.testing.assert_allclose(np.concatenate([x.numpy() for x in local[1]]), single[1].numpy(),
                               rtol=1e-12, atol=1e-16)
    np.testing.assert_allclose(sum(float(x) for x in local[2]), float(single[2]), rtol=1e-12)
    np.testing.assert_allclose(np.concatenate([x.numpy() for x in local[3]]), single[1].numpy(),
                               rtol=1e-10, atol=1e-15)


class _CoTrainingMethod:
    """The engine's view of the co-training loss: logit gradients as a function of phi = v."""

    def logit_grads(self, phi, logits, labels):
        return losses.virtual_logit_grads(phi, logits, labels)


def test_engine_meta_gradient_with_the_cotraining_loss_matches_finite_differences():
    """dL_c(w_hat(v))/dv through the engine's virtual step (meta/virtual.py), with the
    co-training logit gradients, against central differences of the written-out losses."""
    from famus_tf.meta import functional as fn, virtual
    from tests import meta_fixtures as mf
    mf.float64()
    try:
        import keras
        keras.utils.set_random_seed(0)
        model = mf.tiny_mlp(C)
        rng = np.random.default_rng(11)
        x, xv = tf.constant(rng.normal(size=(4 * B, 6))), tf.constant(rng.normal(size=(2 * B, 6)))
        v, _, sup = _case(seed=6, lambda_u=3.0)
        tv = tf.constant(_softmax(rng.normal(size=(2 * B, C)) * 3))
        lr = tf.constant(0.5, tf.float64)
        w, nt = fn.trainable_values(model), fn.non_trainable_values(model)

        def val_loss(w_hat):
            return losses.meta_loss(fn.forward(model, w_hat, nt, xv)[0], tv)

        inner = tf.GradientTape(persistent=True)
        with inner:
            inner.watch(w)
            logits, _ = fn.forward(model, w, nt, x)
        tape, phi_sg, grads = virtual.recorded_gradients(
            inner, logits, w, _CoTrainingMethod(), v, tf.stop_gradient(logits), sup)
        w_hat = virtual.virtual_weights(w, grads, lr)
        with tf.GradientTape() as vt:
            vt.watch(w_hat)
            lv = val_loss(w_hat)
        u = dict(enumerate(vt.gradient(lv, w_hat)))
        ones = tf.ones([], tf.float64)
        d_phi = virtual.meta_gradient(tape, phi_sg, grads, lr, u, tensors=list(range(len(w))),
                                      masks={i: ones for i in range(len(w))})

        def objective(v):
            with tf.GradientTape() as t:
                t.watch(w)
                loss = losses.virtual_loss(v, fn.forward(model, w, nt, x)[0], sup)
            return float(val_loss(virtual.virtual_weights(w, t.gradient(loss, w), lr)))

        eps = 1e-5
        for i in range(4 * B):
            dv = tf.one_hot(i, 4 * B, dtype=tf.float64) * eps
            fd = (objective(v + dv) - objective(v - dv)) / (2 * eps)
            np.testing.assert_allclose(float(d_phi[i]), fd, rtol=1e-6, atol=1e-9)
        assert np.abs(d_phi.numpy()).max() > 1e-4
    finally:
        mf.float32()


def test_logit_grads_and_losses_under_xla():
    v, logits, sup = _case(seed=7)
    fn = tf.function(lambda v, z, s: (losses.virtual_logit_grads(v, z, s), losses.virtual_loss(v, z, s),
                                      losses.meta_loss(z, s.targets)), jit_compile=True)
    for got, want in zip(fn(v, logits, sup), (losses.virtual_logit_grads(v, logits, sup),
                                              losses.virtual_loss(v, logits, sup),
                                              losses.meta_loss(logits, sup.targets))):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12, atol=1e-15)
