"""Methods against references written independently from ALGORITHM.md (float64).

MLC's official update (§6.4) for two steps, written with plain TF tapes on explicit
weights; the weighting network's PyTorch-style initialisation (§13.8).
"""
import keras
import numpy as np
import tensorflow as tf
from absl.testing import absltest

from famus_tf.config import MetaConfig, OptimConfig
from famus_tf.meta.step import MetaLearner
from famus_tf.meta.weighting import build_weighting_net
from tests import meta_fixtures as fx

# LR and MOMENTUM are exact in float32 (Keras keeps its SGD hyper-parameters in float32).
V_LR, LR, T_STEP, MOMENTUM, WD = 0.5, 0.25, 0.11, 0.5, 5e-4


def mlp(params, x):
    """tiny_mlp written out: tanh(Dense 8) -> tanh(Dense 8) -> Dense 4."""
    w1, b1, w2, b2, w3, b3 = params
    h = tf.tanh(x @ w1 + b1)
    h = tf.tanh(h @ w2 + b2)
    return h @ w3 + b3


def summed_ce(logits, labels):
    return tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))


def mlc_official_step(params, buf, x, y, xv, yv):
    """One iteration of the official MLC code (ALGORITHM.md §6.4), PyTorch-style SGD."""
    t = tf.eye(4, dtype=tf.float64)
    with tf.GradientTape() as outer:
        outer.watch(t)
        with tf.GradientTape() as inner:
            inner.watch(params)
            loss = summed_ce(mlp(params, x) @ t, y)
        grads = inner.gradient(loss, params)
        w_hat = [p - V_LR * g for p, g in zip(params, grads)]
        val = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=yv, logits=mlp(w_hat, xv)))
    t = np.maximum(t.numpy() - T_STEP * outer.gradient(val, t).numpy(), 0.0)
    col = t.sum(axis=0, keepdims=True)
    t = t / np.where(col == 0, 1.0, col)
    with tf.GradientTape() as tape:
        tape.watch(params)
        loss = summed_ce(mlp(params, x) @ t, y)
    grads = [g + WD * p for g, p in zip(tape.gradient(loss, params), params)]
    buf = [MOMENTUM * b + g for b, g in zip(buf, grads)]  # torch: buf = mu * buf + g
    params = [p - LR * (g + MOMENTUM * b) for p, g, b in zip(params, grads, buf)]  # nesterov
    return params, buf, t


class MlcOfficialTest(fx.Float64, absltest.TestCase):

    def test_two_steps_equal_the_reference(self):
        keras.utils.set_random_seed(4)
        model = fx.tiny_mlp()
        learner = MetaLearner(model, 4, MetaConfig(method="mlc", famus=False, mlc_update="official",
                                                   mlc_t_step=T_STEP),
                              OptimConfig(lr=LR, momentum=MOMENTUM, weight_decay=WD, virtual_lr=V_LR))
        params = [tf.constant(v.numpy()) for v in model.trainable_variables]
        buf = [tf.zeros_like(p) for p in params]
        for seed in range(2):
            batch = fx.batches((6,), n=12, m=6, seed=seed)
            params, buf, t = mlc_official_step(params, buf, *batch)
            learner.train_step(*batch)
            self.assertGreater(np.abs(t - np.eye(4)).max(), 1e-3)  # T did move
            np.testing.assert_allclose(learner.method.transition.numpy(), t, rtol=1e-10, atol=1e-12)
            for p, v in zip(params, model.trainable_variables):
                np.testing.assert_allclose(v.numpy(), p.numpy(), rtol=1e-10, atol=1e-12)

    def test_official_update_has_no_meta_optimiser(self):
        keras.utils.set_random_seed(4)
        learner = MetaLearner(fx.tiny_mlp(), 4, MetaConfig(method="mlc", mlc_update="official"))
        self.assertEqual(learner.method.meta_variables, ())
        self.assertIsNone(learner.meta_optimizer)
        self.assertNotIn("meta_variables", learner.trackables())


class WeightingNetInitTest(absltest.TestCase):

    def test_pytorch_linear_initialisation(self):
        """U(+-1/sqrt(fan_in)) for the weights AND the biases of both layers."""
        keras.utils.set_random_seed(0)
        net = build_weighting_net(100)
        (k1, b1), (k2, b2) = [(layer.kernel.numpy(), layer.bias.numpy()) for layer in net.layers]
        for values, bound in ((k1, 1.0), (b1, 1.0), (k2, 0.1), (b2, 0.1)):
            self.assertLessEqual(np.abs(values).max(), bound)
            if values.size >= 100:  # spread over the interval, as a uniform draw is
                self.assertGreater(np.abs(values).max(), 0.9 * bound)
                self.assertAlmostEqual(float(np.mean(np.abs(values))), bound / 2, delta=0.15 * bound)
        self.assertNotEqual(float(b2[0]), 0.0)


if __name__ == "__main__":
    absltest.main()
