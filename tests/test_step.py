"""The step's optimiser semantics and compilation behaviour."""
import keras
import numpy as np
import tensorflow as tf
from absl.testing import absltest

from famus_tf.config import MetaConfig, OptimConfig
from famus_tf.meta import functional as fn
from famus_tf.meta.step import MetaLearner, compiled_step
from tests import meta_fixtures as fx


class StepTest(absltest.TestCase):

    def test_weight_decay_is_added_to_the_gradient(self):
        keras.utils.set_random_seed(0)
        model = fx.tiny_mlp()
        learner = MetaLearner(model, 4, MetaConfig(method="plain"),
                              OptimConfig(lr=0.1, momentum=0.0, weight_decay=0.01))
        x, y, _, _ = fx.batches((6,))
        x = tf.cast(x, tf.float32)
        w0 = [v.numpy() for v in model.trainable_variables]
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(fn.per_example_ce(model(x), y))
        grads = [g.numpy() for g in tape.gradient(loss, model.trainable_variables)]
        learner.train_step(x, y)
        for w, g, v in zip(w0, grads, model.trainable_variables):
            np.testing.assert_allclose(v.numpy(), w - 0.1 * (g + 0.01 * w), rtol=1e-5, atol=1e-7)

    def test_no_retrace_when_the_learning_rate_changes(self):
        keras.utils.set_random_seed(0)
        learner = MetaLearner(fx.tiny_mlp(), 4, MetaConfig(method="mwnet", candidates="all"),
                              OptimConfig(lr=0.1, lr_boundaries=(2,), lr_decay=0.1))
        step = compiled_step(learner)
        batch = [tf.cast(t, tf.float32) if t.dtype.is_floating else t for t in fx.batches((6,))]
        lrs = [float(step(*batch)["lr"]) for _ in range(4)]
        np.testing.assert_allclose(lrs, [0.1, 0.1, 0.01, 0.01], rtol=1e-6)
        self.assertEqual(step.experimental_get_tracing_count(), 1)


    def test_zero_virtual_lr_is_rejected(self):
        with self.assertRaisesRegex(ValueError, "virtual_lr"):
            MetaLearner(fx.tiny_mlp(), 4, MetaConfig(method="mwnet"), OptimConfig(virtual_lr=0.0))

    def test_fixed_virtual_lr_is_the_virtual_step(self):
        """w_hat = w - virtual_lr * grad, whatever the scheduled lr (MLC at T = I: the
        virtual loss is sum_i CE_i)."""
        fx.float64()
        try:
            keras.utils.set_random_seed(0)
            model = fx.tiny_mlp()
            for virtual_lr in (None, 0.05):
                learner = MetaLearner(model, 4, MetaConfig(method="mlc", mlc_update="official"),
                                      OptimConfig(lr=0.5, virtual_lr=virtual_lr))
                x, y, xv, yv = fx.batches((6,))
                with tf.GradientTape() as tape:
                    loss = tf.reduce_sum(fn.per_example_ce(model(x), y))
                grads = tape.gradient(loss, model.trainable_variables)
                alpha = 0.5 if virtual_lr is None else virtual_lr
                w_hat = [v - alpha * g for v, g in zip(model.trainable_variables, grads)]
                logits, _ = model.stateless_call(w_hat, [], xv, training=True)
                want = tf.reduce_mean(fn.per_example_ce(logits, yv))
                got = learner._virtual_pass(x, y, xv, yv).val_loss
                self.assertAlmostEqual(float(got), float(want), places=12)
        finally:
            fx.float32()


if __name__ == "__main__":
    absltest.main()
