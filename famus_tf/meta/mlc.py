"""Meta label correction as FaMUS used it: a learned label-transition matrix T.

The training loss is mean_i CE(logits_i @ T, y~_i) (T multiplies the logits, as in
the official MLC code). T is the meta model: after each meta step T <- max(T, 0) and
each column is divided by its sum (if non-zero). `mlc_reset=True` reproduces the
official MLC code instead: T is reset to the identity before every step.
"""
import keras
import tensorflow as tf

from famus_tf.meta import replicas
from famus_tf.meta.functional import per_example_ce


class MLC:
    name = "mlc"

    def __init__(self, config, num_classes, dtype):
        self.reset = config.mlc_reset
        self.transition = keras.Variable(tf.eye(num_classes, dtype=dtype), name="transition",
                                         dtype=dtype)
        self.meta_variables = (self.transition,)

    def phi(self, losses, labels):
        if self.reset:
            replicas.assign([self.transition], [tf.eye(self.transition.shape[0],
                                                       dtype=self.transition.dtype)])
        return tf.identity(self.transition.value)

    def logit_grads(self, phi, logits, labels):
        with tf.GradientTape() as tape:
            tape.watch(logits)
            loss = replicas.batch_mean(per_example_ce(tf.matmul(logits, phi), labels))
        return tape.gradient(loss, logits)

    def project(self):
        t = tf.nn.relu(self.transition.value)
        col = tf.reduce_sum(t, axis=0, keepdims=True)
        replicas.assign([self.transition], [t / tf.where(tf.equal(col, 0.0), tf.ones_like(col), col)])

    def actual_phi(self, losses, labels, d_phi):
        return tf.stop_gradient(self.transition.value)
