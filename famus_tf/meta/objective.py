"""What the engine trains against: integer labels, or a co-training `Supervision`.

The step (step.py) touches the labels of a batch in four places only, and asks the
objective selected by the labels' type (`select`) for them:

  per_example(logits, labels)           l_i: the weighting network's input and the `loss` metric
  logit_grads(phi, logits, labels)      dL_train/dz, differentiable in phi (virtual step,
                                        second-order paths, actual step)
  validation_loss(logits, val_labels)   this replica's contribution to L_val (summed over replicas)
  accuracy_labels(labels)               the integer labels the `accuracy` metric compares with

Integer labels [n] (Algorithm 1): l_i is the method's training loss (losses.py: CE, or
LDAM with DRW), dL/dz is the method's `logit_grads` (MW-Net / L2R: phi_i dl_i/dz_i; MLC:
through T), L_val = mean CE on the meta batch. This is the engine as it always was.

A `Supervision` (cotrain/losses.py; Algorithm 2, ALGORITHM.md §8 steps 4-6) on the mixed
batch of n = 4B rows, with soft meta targets [m, C]:

  l_i     = cost_i = -sum_c t_ic log p_ic                     (soft-target CE)
  dL/dz_i = d/dz_i [2 sum_j v_j (m_j cost_j + lambda_u (1 - m_j) mse_j) + P]   with phi = v
  L_val   = L_c = (1/m) sum_j cost_j + P(meta batch)
  accuracy against argmax_c t_ic (the mixed targets; row i's largest share, lambda' >= 1/2)

P is the prior penalty (on with `prior=True`, CotrainConfig.prior). It does not depend on
v, so it moves w_hat and the actual step but adds nothing to dL/dv. The co-training loss
is linear in example weights, so the methods whose phi is a weight vector (MW-Net, L2R)
train on it unchanged; MLC's phi is a transition matrix on integer labels and has no
co-training form. For L2R (phi = eps = 0) the virtual step is then the prior's gradient
alone, not zero. The loss must be CE without DRW (LDAM's margins and DRW's class
weights are defined by an integer label).
"""
import tensorflow as tf

from famus_tf.cotrain import losses as cotrain_losses
from famus_tf.meta import functional as fn
from famus_tf.meta import replicas
from famus_tf.meta.method import WeightedLoss


class LabelObjective:
    """Integer labels: the method's training loss and mean CE on the meta batch."""

    def __init__(self, loss, method):
        self.loss, self.method = loss, method

    def per_example(self, logits, labels):
        return self.loss.per_example(logits, labels)

    def logit_grads(self, phi, logits, labels):
        return self.method.logit_grads(phi, logits, labels)

    def validation_loss(self, logits, labels):
        return replicas.batch_mean(fn.per_example_ce(logits, labels))

    def accuracy_labels(self, labels):
        return labels


class CotrainObjective:
    """A co-training `Supervision` (see the module docstring); phi = the example weights v."""

    def __init__(self, prior=True):
        self.prior = bool(prior)

    def per_example(self, logits, sup):
        return cotrain_losses.per_example_cost(logits, sup.targets)

    def logit_grads(self, phi, logits, sup):
        return cotrain_losses.virtual_logit_grads(phi, logits, sup, self.prior)

    def validation_loss(self, logits, targets):
        if targets.shape.rank == 1:  # integer meta labels (a clean meta set)
            targets = tf.one_hot(targets, tf.shape(logits)[-1], dtype=logits.dtype)
        return cotrain_losses.meta_loss(logits, targets, self.prior)

    def accuracy_labels(self, sup):
        return tf.argmax(sup.targets, -1, output_type=tf.int64)

    def unlabeled_mse(self, logits, sup):
        """Mean mse_i over the unlabeled rows of the global batch (0 if there are none)."""
        m = tf.cast(sup.labeled, logits.dtype)
        mse = cotrain_losses.per_example_mse(logits, sup.guesses)
        total, count = replicas.all_sum((tf.reduce_sum((1.0 - m) * mse), tf.reduce_sum(1.0 - m)))
        return total / tf.maximum(count, 1.0)


def is_supervision(labels):
    return isinstance(labels, cotrain_losses.Supervision)


def check_cotrain(meta):
    """Raises ValueError unless the method and loss of `meta` (a MetaConfig) can train on
    a co-training batch."""
    if meta.method == "mlc":
        raise ValueError("method mlc cannot train Algorithm 2 (--meta_set=pseudo_clean): its "
                         "transition matrix acts on integer labels; use mwnet, l2r or plain")
    if meta.loss != "ce" or meta.drw_step:
        raise ValueError("Algorithm 2 (--meta_set=pseudo_clean) trains on soft targets: it needs "
                         "--loss=ce without DRW")


def select(labels, loss, method, prior, meta):
    """The objective for a batch's `labels` (checked at trace time)."""
    if not is_supervision(labels):
        return LabelObjective(loss, method)
    check_cotrain(meta)
    if method is not None and not isinstance(method, WeightedLoss):
        raise ValueError(f"method {method.name} has no co-training form")
    return CotrainObjective(prior)
