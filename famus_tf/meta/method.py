"""What a meta-learning method is, to the engine.

Every method trains the base network on a training loss that depends on the logits
and on a meta quantity phi (MW-Net: the normalised example weights from the
weighting network; L2R: example weights epsilon; MLC: the label-transition matrix T).
The per-example loss l_i itself (cross-entropy, or LDAM with deferred re-weighting)
is the `TrainingLoss` of losses.py, shared by every method. The engine needs from a
method:

  phi(losses, labels)              phi, computed from the meta variables (recorded on a tape)
  logit_grads(phi, logits, labels) d L_train / d logits, differentiable in phi
  meta_variables                   what the meta optimiser updates (may be empty)
  actual_phi(losses, labels, d_phi) phi for the actual step, after the meta update
  sampler_phi(losses)              phi whose training gradient the FaMUS samplers see and
                                   are trained with (None: the virtual step's phi)
  uses_lg                          whether L_g (Eq. 11) enters dL/dphi (it trains the meta
                                   model; a method without one has no use for it)

`d_phi` is d L_val(w_hat) / d phi, the meta-gradient the engine computes (under
tf.distribute, this replica's contribution for a phi shared by the replicas).
"""


class WeightedLoss:
    """Base for methods whose training loss is sum_i phi_i * l_i (MW-Net, L2R)."""

    meta_variables = ()
    uses_lg = True

    def __init__(self, loss):
        self.loss = loss

    def logit_grads(self, phi, logits, labels):
        return phi[:, None] * self.loss.logit_grads(logits, labels)

    def sampler_phi(self, losses):
        return None

    def project(self):
        """Called after the meta optimiser step (MLC projects T); nothing by default."""


def build_method(name, config, num_classes, dtype, loss):
    """The method object for `config.method` in ('mwnet', 'l2r', 'mlc')."""
    if name == "mwnet":
        from famus_tf.meta.mwnet import MWNet
        return MWNet(config, loss)
    if name == "l2r":
        from famus_tf.meta.l2r import L2R
        return L2R(loss)
    if name == "mlc":
        from famus_tf.meta.mlc import MLC
        return MLC(config, num_classes, dtype, loss)
    raise ValueError(f"unknown method {name!r}; choose plain, mwnet, l2r or mlc")
