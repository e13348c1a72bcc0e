"""Meta-gradients of MW-Net, L2R and MLC against central finite differences (float64).

The references below are written from ALGORITHM.md (§2, §6.3, §6.4, Eq. 9), not from the
engine: L_val(w_hat) with w_hat = w - LR * dL_train/dw, differentiated numerically.
"""
import keras
import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from famus_tf.config import MetaConfig, OptimConfig
from famus_tf.meta import functional as fn
from famus_tf.meta.step import MetaLearner
from tests import meta_fixtures as fx

LR = 0.5
COUNTS = [40, 12, 5, 2]  # per-class training counts (LDAM margins, DRW weights)


def train_gradient(model, x, train_loss):
    w, nt = fn.trainable_values(model), fn.non_trainable_values(model)
    with tf.GradientTape() as tape:
        tape.watch(w)
        logits, _ = fn.forward(model, w, nt, x)
        loss = train_loss(logits)
    return tape.gradient(loss, w, unconnected_gradients=fn.ZERO)


def reference_val_loss(model, x, y, xv, yv, train_loss, kept=None, frozen=None, lr=LR):
    """L_val(w - lr * dL_train/dw), written out directly.

    With `kept` (tensor indices), only those tensors follow `train_loss`; the others
    take the virtual step of the fixed gradients `frozen` (FaMUS, Eq. 9: the gates cut
    the second-order path, never the value of w_hat).
    """
    w, nt = fn.trainable_values(model), fn.non_trainable_values(model)
    grads = train_gradient(model, x, train_loss)
    if kept is not None:
        grads = [g if i in kept else f for i, (g, f) in enumerate(zip(grads, frozen))]
    w_hat = [a - lr * g for a, g in zip(w, grads)]
    logits_v, _ = fn.forward(model, w_hat, nt, xv)
    return float(tf.reduce_mean(fn.per_example_ce(logits_v, yv)))


class MetaGradientTest(fx.Float64, parameterized.TestCase):

    def setUp(self):
        super().setUp()
        keras.utils.set_random_seed(1)

    def _learner(self, model_name, method, famus=False, **meta):
        build, shape = fx.MODELS[model_name]
        meta.setdefault("lambda_g", 0.0)
        learner = MetaLearner(build(), 4, MetaConfig(method=method, famus=famus, **meta),
                              OptimConfig(lr=LR), class_counts=COUNTS)
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
        fx.assert_directional_derivatives(grad, loss_at, flat0)

    @parameterized.parameters(("mlp", None), ("cnn", None), ("cnn", (1, 0, 0, 1, 1, 0)),
                              ("mlp", (0, 1, 0, 0)))
    def test_l2r_example_weight_gradient(self, model_name, gates):
        """d L_val / d eps at eps = 0 (w_hat = w), through the kept tensors only (FaMUS);
        L_g (lambda_2 = 0.1 here) must not enter L2R's weights."""
        famus = gates is not None
        learner, (x, y, xv, yv) = self._learner(model_name, "l2r", famus=famus, lambda_g=0.1,
                                                candidates="all", gate_policy="fixed")
        sel = learner.selection
        kept = None
        if famus:
            self.assertEqual(len(gates), len(sel.candidates))
            kept = set(sel.always_on) | {c for c, g in zip(sel.candidates, gates) if g}
        out = learner.meta_gradient(x, y, xv, yv, gates=gates)
        eps0 = out["phi"].numpy()
        np.testing.assert_array_equal(eps0, 0.0)  # L2R perturbs at eps = 0
        frozen = [tf.zeros_like(v) for v in learner.model.trainable_variables]

        def loss_at(eps):
            return reference_val_loss(learner.model, x, y, xv, yv,
                                      lambda logits: tf.reduce_sum(eps * fn.per_example_ce(logits, y)),
                                      kept=kept, frozen=frozen)
        d_phi = out["d_phi"].numpy()
        self.assertGreater(np.abs(d_phi).max(), 1e-6)
        for i in range(len(eps0)):
            e = np.zeros_like(eps0)
            e[i] = 1.0
            np.testing.assert_allclose(d_phi[i], fx.central_difference(loss_at, eps0, e),
                                       rtol=1e-5, atol=1e-10)

    @parameterized.parameters(("mlp", "learned"), ("cnn", "learned"), ("mlp", "official"),
                              ("cnn", "official"))
    def test_mlc_transition_gradient(self, model_name, update):
        """d L_val / d T with the SUMMED training loss sum_i CE(z_i T, y_i) (§6.4); for the
        official update this is the gradient of the plain step on T, taken at T = I."""
        learner, (x, y, xv, yv) = self._learner(model_name, "mlc", mlc_update=update)
        if update == "learned":  # a T away from I, so that the test is not special to I
            t = np.eye(4) + 0.1 * np.random.default_rng(5).uniform(size=(4, 4))
            learner.method.transition.assign(t / t.sum(0))
        out = learner.meta_gradient(x, y, xv, yv)
        t0 = out["phi"].numpy()
        if update == "official":
            np.testing.assert_array_equal(t0, np.eye(4))
            self.assertEqual(out["theta"], [])
        else:
            np.testing.assert_allclose(out["theta"][0].numpy(), out["d_phi"].numpy())

        def loss_at(t):
            return reference_val_loss(
                learner.model, x, y, xv, yv,
                lambda logits: tf.reduce_sum(fn.per_example_ce(tf.matmul(logits, t), y)), lr=LR)
        grad = out["d_phi"].numpy()
        rng = np.random.default_rng(2)
        for _ in range(3):
            d = rng.normal(size=t0.shape)
            np.testing.assert_allclose(np.sum(grad * d), fx.central_difference(loss_at, t0, d),
                                       rtol=1e-5, atol=1e-10)

    @parameterized.parameters(("mlp", 0), ("cnn", 0), ("mlp", 1))
    def test_mwnet_ldam_theta_gradient(self, model_name, drw_step):
        """MW-Net on the LDAM loss (with DRW class weights once the iteration reaches
        drw_step): the weighted LDAM loss, written from Cao et al.'s formula."""
        learner, (x, y, xv, yv) = self._learner(model_name, "mwnet", loss="ldam",
                                                ldam_scale=3.0, drw_step=drw_step)
        if drw_step:
            learner.optimizer.iterations.assign(drw_step)
        net = learner.method.net
        out = learner.meta_gradient(x, y, xv, yv)
        margins = 0.5 * np.asarray(COUNTS, float) ** -0.25 / max(np.asarray(COUNTS, float) ** -0.25)
        eff = (1 - 0.9999) / (1 - 0.9999 ** np.asarray(COUNTS, float))
        cls_w = eff / eff.sum() * 4 if drw_step else np.ones(4)
        theta0 = [v.numpy() for v in net.trainable_variables]

        def loss_at(flat):
            k = 0
            for v, t in zip(net.trainable_variables, theta0):
                v.assign(flat[k:k + t.size].reshape(t.shape))
                k += t.size

            def train_loss(logits):
                adjusted = 3.0 * (logits - tf.one_hot(y, 4, dtype=logits.dtype) * margins[y.numpy()][:, None])
                losses = cls_w[y.numpy()] * fn.per_example_ce(adjusted, y)
                v = tf.reshape(net(tf.stop_gradient(losses)[:, None]), [-1])
                return tf.reduce_sum(v / tf.reduce_sum(v) * losses)
            return reference_val_loss(learner.model, x, y, xv, yv, train_loss)

        flat0 = np.concatenate([t.ravel() for t in theta0])
        grad = np.concatenate([g.numpy().ravel() for g in out["theta"]])
        self.assertGreater(np.abs(grad).max(), 1e-6)
        fx.assert_directional_derivatives(grad, loss_at, flat0)


if __name__ == "__main__":
    from absl.testing import absltest
    absltest.main()
