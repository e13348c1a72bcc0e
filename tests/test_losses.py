"""The training loss (meta/losses.py): LDAM and DRW against their formulas, in numpy."""
import keras
import numpy as np
import tensorflow as tf
from absl.testing import absltest

from famus_tf.config import MetaConfig, OptimConfig
from famus_tf.meta import losses
from famus_tf.meta.step import MetaLearner, compiled_step
from tests import meta_fixtures as fx

COUNTS = np.array([500, 120, 30, 9], float)


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def ldam_numpy(z, y, s, max_m, class_w):
    """Cao et al.: m_c = C / n_c^(1/4), max m_c = max_m; CE(s * (z - m_y e_y), y), times c_y."""
    m = 1.0 / COUNTS ** 0.25
    m = m * max_m / m.max()
    onehot = np.eye(z.shape[1])[y]
    a = s * (z - m[y][:, None] * onehot)
    p = softmax(a)
    loss = class_w[y] * -np.log(p[np.arange(len(y)), y])
    grad = class_w[y][:, None] * s * (p - onehot)
    return loss, grad


def drw_numpy(beta):
    """Effective number of samples (1 - beta^n) / (1 - beta); weights 1/E, summing to C."""
    w = 1.0 / ((1.0 - beta ** COUNTS) / (1.0 - beta))
    return w / w.sum() * len(COUNTS)


class LdamDrwTest(absltest.TestCase):

    def setUp(self):
        super().setUp()
        rng = np.random.default_rng(0)
        self.z = rng.normal(size=(10, 4)) * 0.5
        self.y = rng.integers(0, 4, 10)

    def test_margins_and_class_weights(self):
        m = losses.ldam_margins(COUNTS, 0.5)
        self.assertAlmostEqual(m.max(), 0.5)
        np.testing.assert_allclose(m * COUNTS ** 0.25, np.full(4, m[0] * COUNTS[0] ** 0.25))
        w = losses.drw_class_weights(COUNTS, 0.9999)
        np.testing.assert_allclose(w, drw_numpy(0.9999), rtol=1e-12)
        self.assertAlmostEqual(w.sum(), 4.0)
        self.assertTrue(np.all(np.diff(w) > 0))  # rarer classes weigh more

    def test_ldam_loss_and_gradient(self):
        iterations = tf.Variable(0, dtype=tf.int64)
        loss = losses.TrainingLoss("ldam", COUNTS, max_margin=0.5, scale=30.0, drw_step=5,
                                   iterations=iterations, dtype=tf.float64)
        z, y = tf.constant(self.z), tf.constant(self.y)
        for step, class_w in ((4, np.ones(4)), (5, drw_numpy(0.9999))):
            iterations.assign(step)
            want_loss, want_grad = ldam_numpy(self.z, self.y, 30.0, 0.5, class_w)
            with tf.GradientTape() as tape:
                tape.watch(z)
                got = loss.per_example(z, y)
                total = tf.reduce_sum(got)
            np.testing.assert_allclose(got.numpy(), want_loss, rtol=1e-10)
            np.testing.assert_allclose(loss.logit_grads(z, y).numpy(), want_grad, rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(tape.gradient(total, z).numpy(), want_grad, rtol=1e-10, atol=1e-12)
            # The plain step's reduction: sum_i c_i l_i / sum_i c_i.
            np.testing.assert_allclose(float(loss.plain_loss(z, y)),
                                       want_loss.sum() / class_w[self.y].sum(), rtol=1e-12)

    def test_ce_is_unchanged(self):
        loss = losses.TrainingLoss("ce", dtype=tf.float64)
        want_loss, want_grad = ldam_numpy(self.z, self.y, 1.0, 0.0, np.ones(4))
        np.testing.assert_allclose(loss.per_example(tf.constant(self.z), tf.constant(self.y)).numpy(),
                                   want_loss, rtol=1e-12)
        np.testing.assert_allclose(loss.logit_grads(tf.constant(self.z), tf.constant(self.y)).numpy(),
                                   want_grad, rtol=1e-12, atol=1e-15)

    def test_ldam_needs_class_counts(self):
        with self.assertRaisesRegex(ValueError, "class_counts"):
            losses.TrainingLoss("ldam")


class PlainLdamDrwStepTest(fx.Float64, absltest.TestCase):
    """LDAM-DRW as a baseline: the plain step, DRW switched on by the iteration."""

    def test_plain_step_and_no_retrace(self):
        keras.utils.set_random_seed(0)
        model = fx.tiny_mlp()
        learner = MetaLearner(model, 4, MetaConfig(method="plain", loss="ldam", ldam_scale=2.0,
                                                   drw_step=1),
                              OptimConfig(lr=0.25, momentum=0.0, weight_decay=0.0),
                              class_counts=COUNTS)
        step = compiled_step(learner)
        for k, class_w in enumerate((np.ones(4), drw_numpy(0.9999))):
            x, y, _, _ = fx.batches((6,), seed=k)
            w0 = [v.numpy() for v in model.trainable_variables]
            with tf.GradientTape() as tape:
                logits = model(x)
            _, dz = ldam_numpy(logits.numpy(), y.numpy(), 2.0, 0.5, class_w)
            dz = dz / class_w[y.numpy()].sum()
            grads = tape.gradient(logits, model.trainable_variables, output_gradients=tf.constant(dz))
            out = step(x, y, x, y)
            want_loss, _ = ldam_numpy(logits.numpy(), y.numpy(), 2.0, 0.5, class_w)
            self.assertAlmostEqual(float(out["loss"]), want_loss.sum() / class_w[y.numpy()].sum(),
                                   places=10)
            for v, w, g in zip(model.trainable_variables, w0, grads):
                np.testing.assert_allclose(v.numpy(), w - 0.25 * g.numpy(), rtol=1e-10, atol=1e-12)
        self.assertEqual(step.experimental_get_tracing_count(), 1)


if __name__ == "__main__":
    absltest.main()
