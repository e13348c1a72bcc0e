"""What a meta-learning method is, to the engine.

Every method trains the base network on a training loss that depends on the logits
and on a meta quantity phi (MW-Net: the normalised example weights from the
weighting network; L2R: example weights epsilon; MLC: the label-transition matrix T).
The engine needs four things from a method:

  phi(losses, labels)             phi, computed from the meta variables (recorded on a tape)
  logit_grads(phi, logits, labels) d L_train / d logits, differentiable in phi
  meta_variables                   what the meta optimiser updates (may be empty)
  actual_phi(losses, labels, d_phi) phi for the actual step, after the meta update

`d_phi` is d L_val(w_hat) / d phi, the meta-gradient the engine computes.
"""
import tensorflow as tf


def ce_logit_grads(logits, labels):
    """d CE / d logits per example: softmax - one-hot (or - soft targets)."""
    probs = tf.nn.softmax(logits)
    if labels.shape.rank == 1:
        labels = tf.one_hot(labels, tf.shape(logits)[-1], dtype=probs.dtype)
    return probs - tf.cast(labels, probs.dtype)


class WeightedCE:
    """Base for methods whose training loss is sum_i phi_i * CE_i (MW-Net, L2R)."""

    meta_variables = ()

    def logit_grads(self, phi, logits, labels):
        return phi[:, None] * ce_logit_grads(logits, labels)

    def project(self):
        """Called after the meta optimiser step (MLC projects T); nothing by default."""


def build_method(name, config, num_classes, dtype):
    """The method object for `config.method` in ('mwnet', 'l2r', 'mlc')."""
    if name == "mwnet":
        from famus_tf.meta.mwnet import MWNet
        return MWNet(config)
    if name == "l2r":
        from famus_tf.meta.l2r import L2R
        return L2R(config)
    if name == "mlc":
        from famus_tf.meta.mlc import MLC
        return MLC(config, num_classes, dtype)
    raise ValueError(f"unknown method {name!r}; choose plain, mwnet, l2r or mlc")
