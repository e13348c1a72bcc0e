"""Learning to Reweight (Ren et al., ICML 2018), with and without FaMUS.

L2R perturbs the training loss with per-example weights epsilon, sum_i eps_i l_i, at
eps = 0, takes the virtual step w_hat(eps) = w - alpha * sum_i eps_i grad l_i(w) (which
at eps = 0 is w_hat = w) and sets the example weights from the meta-gradient:

    w_i = max(-dL_val(w_hat)/d eps_i, 0) / sum_j max(...)   (all-zero guard),
    -dL_val/d eps_i = alpha * grad L_val(w) . grad l_i(w),

the per-example gradient similarity of the official code (alpha cancels in the
normalisation). L2R has no persistent meta model.

FaMUS + L2R (the paper does not spell it out; ALGORITHM.md §6.3, §12.9). Decisions:
  * The example weights stay L2R's, at eps = 0: FaMUS only restricts the similarity to
    the kept tensors, -dL_val/d eps_i = alpha * sum_{l kept} u_l . grad_l l_i (Eq. 9).
    With every gate on FaMUS + L2R is therefore L2R, step for step.
  * L_g (Eq. 11) trains the meta model, and L2R has none (its weights are recomputed
    each step): L_g does not enter the weights and is not computed (`uses_lg`).
  * The samplers need a training gradient for their input (Eq. 8) and for their signal
    dL_val/dr_l, and at eps = 0 the virtual step is zero. They are given the gradient
    of the uniformly weighted loss, eps = 1/n (`sampler_phi`): their input is its pooled
    gradient and their signal -alpha * s_l * u_l . g_l(1/n), the first-order change of
    L_val when layer l takes its share of a plain virtual step. This trains the
    samplers without changing the example weights (an earlier version took the whole
    virtual step at eps = 1/n, which made FaMUS + L2R a different method).
"""
import tensorflow as tf

from famus_tf.meta import replicas
from famus_tf.meta.method import WeightedLoss


class L2R(WeightedLoss):
    name = "l2r"
    uses_lg = False

    def phi(self, losses, labels):
        return tf.zeros_like(losses)

    def sampler_phi(self, losses):
        return tf.fill(tf.shape(losses), 1.0 / replicas.global_size(losses))

    def actual_phi(self, losses, labels, d_phi):
        w = tf.nn.relu(-d_phi)
        total = replicas.all_sum(tf.reduce_sum(w))
        return tf.stop_gradient(w / tf.where(tf.equal(total, 0.0), tf.ones_like(total), total))
