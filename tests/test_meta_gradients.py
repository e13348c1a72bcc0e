"""Meta-gradients of MW-Net, L2R and MLC against central finite differences (float64)."""
import keras
import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from famus_tf.config import MetaConfig, OptimConfig
from famus_tf.meta import functional as fn
from famus_tf.meta.step import MetaLearner
from tests import meta_fixtures as fx

LR = 0.5


def reference_val_loss(model, x, y, xv, yv, train_loss):
    """L_val(w - LR * dL_train/dw), written out directly."""
    w, nt = fn.trainable_values(model), fn.non_trainable_values(model)
    with tf.GradientTape() as tape:
        tape.watch(w)
        logits, _ = fn.forward(model, w, nt, x)
        loss = train_loss(logits)
    grads = tape.gradient(loss, w)
    w_hat = [a - LR * g for a, g in zip(w, grads)]
    logits_v, _ = fn.forward(model, w_hat, nt, xv)
    return float(tf.reduce_mean(fn.per_example_ce(logits_v, yv)))


def central_difference(f, x0, direction, eps=1e-5):
    return (f(x0 + eps * direction) - f(x0 - eps * direction)) / (2 * eps)


class MetaGradientTest(parameterized.TestCase):

    def setUp(self):
        super().setUp()
        fx.float64()
        keras.utils.set_random_seed(1)

    def tearDown(self):
        fx.float32()
        super().tearDown()

    def _learner(self, model_name, method, famus=False):
        build, shape = fx.MODELS[model_name]
        learner = MetaLearner(build(), 4, MetaConfig(method=method, famus=famus, lambda_g=0.0),
                              OptimConfig(lr=LR))
        return learner, fx.batches(shape)

    @parameterized.parameters("mlp", "cnn")
    def test_mwnet_theta_gradient(self, model_name):
        learner, (x, y, xv, yv) = self._learner(model_name, "mwnet")
        net = learner.method.net
        out = learner.meta_gradient(x, y, xv, yv)
        theta0 = [v.numpy() for v in net.trainable_variables]

        def loss_at(flat):
            parts, k = [], 0
            for t in theta0:
                parts.append(flat[k:k + t.size].reshape(t.shape))
                k += t.size
            for v, p in zip(net.trainable_variables, parts):
                v.assign(p)

            def train_loss(logits):
                losses = fn.per_example_ce(logits, y)
                v = tf.reshape(net(tf.stop_gradient(losses)[:, None]), [-1])
                return tf.reduce_sum(v / tf.reduce_sum(v) * losses)
            return reference_val_loss(learner.model, x, y, xv, yv, train_loss)

        flat0 = np.concatenate([t.ravel() for t in theta0])
        grad = np.concatenate([g.numpy().ravel() for g in out["theta"]])
        self.assertGreater(np.abs(grad).max(), 1e-6)
        rng = np.random.default_rng(0)
        for _ in range(3):
            d = rng.normal(size=flat0.shape)
            fd = central_difference(loss_at, flat0, d)
            np.testing.assert_allclose(grad @ d, fd, rtol=1e-5, atol=1e-10)

    @parameterized.parameters(("mlp", False), ("cnn", False), ("cnn", True))
    def test_l2r_example_weight_gradient(self, model_name, famus):
        learner, (x, y, xv, yv) = self._learner(model_name, "l2r", famus=famus)
        gates = np.ones(len(learner.selection.candidates)) if famus else None
        out = learner.meta_gradient(x, y, xv, yv, gates=gates)
        eps0 = out["phi"].numpy()

        def loss_at(eps):
            return reference_val_loss(learner.model, x, y, xv, yv,
                                      lambda logits: tf.reduce_sum(eps * fn.per_example_ce(logits, y)))
        d_phi = out["d_phi"].numpy()
        self.assertGreater(np.abs(d_phi).max(), 1e-6)
        for i in range(4):
            e = np.zeros_like(eps0)
            e[i] = 1.0
            np.testing.assert_allclose(d_phi[i], central_difference(loss_at, eps0, e),
                                       rtol=1e-5, atol=1e-10)

    @parameterized.parameters("mlp", "cnn")
    def test_mlc_transition_gradient(self, model_name):
        learner, (x, y, xv, yv) = self._learner(model_name, "mlc")
        out = learner.meta_gradient(x, y, xv, yv)
        t0 = learner.method.transition.numpy()

        def loss_at(t):
            return reference_val_loss(
                learner.model, x, y, xv, yv,
                lambda logits: tf.reduce_mean(fn.per_example_ce(tf.matmul(logits, t), y)))
        grad = out["theta"][0].numpy()
        np.testing.assert_allclose(grad, out["d_phi"].numpy())
        rng = np.random.default_rng(2)
        for _ in range(3):
            d = rng.normal(size=t0.shape)
            np.testing.assert_allclose(np.sum(grad * d), central_difference(loss_at, t0, d),
                                       rtol=1e-5, atol=1e-10)


if __name__ == "__main__":
    from absl.testing import absltest
    absltest.main()
