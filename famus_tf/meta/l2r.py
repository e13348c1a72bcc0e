"""Learning to Reweight (Ren et al., ICML 2018).

Example weights are recomputed every step from the meta-gradient of the validation
loss w.r.t. per-example perturbations epsilon: w_i = max(-dL_val/d eps_i, 0),
normalised to sum 1 (all-zero guard). Without FaMUS epsilon = 0, so w_hat = w and
-dL_val/d eps_i is (up to the learning rate) the gradient similarity
grad L_val(w) . grad l_i(w), as in the official code. With FaMUS the similarity is
restricted to the sampled tensors and, to give the samplers a signal, the virtual
step uses uniform epsilon = 1/n (a real virtual step, as the FaMUS paper describes).
L2R has no persistent meta model.
"""
import tensorflow as tf

from famus_tf.meta import replicas
from famus_tf.meta.method import WeightedCE


class L2R(WeightedCE):
    name = "l2r"

    def __init__(self, config):
        self.virtual_epsilon = 1.0 if config.famus else 0.0

    def phi(self, losses, labels):
        n = replicas.global_size(losses)
        return tf.fill(tf.shape(losses), tf.cast(self.virtual_epsilon, losses.dtype) / n)

    def actual_phi(self, losses, labels, d_phi):
        w = tf.nn.relu(-d_phi)
        total = replicas.all_sum(tf.reduce_sum(w))
        return tf.stop_gradient(w / tf.where(tf.equal(total, 0.0), tf.ones_like(total), total))
