"""Meta label correction (Wang, Hu & Hu, CVPR 2020): a label-transition matrix T.

The training loss is the SUM over the batch of the per-example loss of the corrected
logits, sum_i l(z_i T, y~_i) (T multiplies the logits; the official code sums the
per-example CE in the virtual and the actual step, and its learning rates, virtual
1e-3 and actual 1e-4, are for that sum; ALGORITHM.md §6.4). Under tf.distribute the
sum is over the global batch (each replica's gradient is its share of it).

Two updates of T (`mlc_update`):
  learned   (default; the FaMUS supplement's reading, "beta = 1e-5 for the meta model")
            T is a persistent meta model, moved by the meta optimiser (SGD, momentum,
            weight decay, beta) on dL_val/dT, then T <- max(T, 0) and every column is
            divided by its sum (if non-zero).
  official  (the official MLC code) every step starts from T = I; one plain gradient
            step of size `mlc_t_step` (0.11) on dL_val/dT at I, no momentum or decay:
            T = colnorm(max(I - 0.11 * dL_val/dT, 0)); the actual step uses that T.
            `transition` then holds the last step's T (a record; nothing is carried over).
With FaMUS, dL_val/dT is the gated meta-gradient (T plays the role of theta; L_g enters).
"""
import keras
import tensorflow as tf

from famus_tf.meta import replicas

UPDATES = ("learned", "official")


def column_normalise(t):
    """max(T, 0) with each column divided by its sum (columns summing to 0 kept)."""
    t = tf.nn.relu(t)
    col = tf.reduce_sum(t, axis=0, keepdims=True)
    return t / tf.where(tf.equal(col, 0.0), tf.ones_like(col), col)


class MLC:
    name = "mlc"
    uses_lg = True

    def __init__(self, config, num_classes, dtype, loss):
        if config.mlc_update not in UPDATES:
            raise ValueError(f"mlc_update must be one of {UPDATES}, got {config.mlc_update!r}")
        self.loss = loss
        self.official = config.mlc_update == "official"
        self.t_step = config.mlc_t_step
        self.transition = keras.Variable(tf.eye(num_classes, dtype=dtype), name="transition",
                                         dtype=dtype)
        self.meta_variables = () if self.official else (self.transition,)

    def phi(self, losses, labels):
        if self.official:
            return tf.eye(self.transition.shape[0], dtype=self.transition.dtype)
        return tf.identity(self.transition.value)

    def logit_grads(self, phi, logits, labels):
        with tf.GradientTape() as tape:
            tape.watch(logits)
            loss = tf.reduce_sum(self.loss.per_example(tf.matmul(logits, phi), labels))
        return tape.gradient(loss, logits)

    def sampler_phi(self, losses):
        return None

    def project(self):
        replicas.assign([self.transition], [column_normalise(self.transition.value)])

    def actual_phi(self, losses, labels, d_phi):
        if self.official:
            eye = tf.eye(self.transition.shape[0], dtype=self.transition.dtype)
            t = column_normalise(eye - self.t_step * replicas.all_sum(d_phi))
            replicas.assign([self.transition], [t])
            return tf.stop_gradient(t)
        return tf.stop_gradient(self.transition.value)
