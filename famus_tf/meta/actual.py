"""Step 5 of a meta iteration, the actual step on w: which gradient it applies.

  recompute (default; the paper's Eq. 5)
      w' = w - alpha * sum_i v'_i grad l_i(w), with phi' = the meta model AFTER this
      step's meta update (`method.actual_phi`). phi' exists only after the
      meta-gradient, so its gradient is a second backward pass through the recorded
      training forward (no second forward).
  reuse
      w' = w - alpha * sum_i v_i grad l_i(w), with phi = the meta model BEFORE this
      step's meta update: the gradient is the virtual step's own training gradient g(phi)
      (virtual.py), already computed. The meta update still happens in this step, and
      takes effect on the base network one step later (in the next step's phi). Each
      iteration then has one backward pass through the training batch instead of two;
      the meta-gradient, the samplers and every other part of the step are unchanged.
      Under tf.distribute the reused gradient is this replica's contribution of the
      global virtual-step gradient (its weights normalised by global sums), which is what
      the optimiser sums over replicas: the step equals the single-device one.

Only methods whose meta model persists between steps can reuse: MW-Net (the weighting
network) and MLC with the learned T. L2R's weights exist only after the meta-gradient
(at eps = 0 the virtual step's own gradient is zero), and MLC's official update starts
every step from T = I (the reused step would be plain training on T = I, its meta
update never reaching w): both are refused (`check`).
"""
import tensorflow as tf

from famus_tf.meta import functional as fn

ACTUAL_STEPS = ("recompute", "reuse")


def check(method, actual_step, mlc_update="learned"):
    """Raises ValueError (one line naming the flags) for a combination that cannot reuse."""
    if actual_step not in ACTUAL_STEPS:
        raise ValueError(f"--actual_step: one of {', '.join(ACTUAL_STEPS)}, got {actual_step!r}")
    if actual_step != "reuse":
        return
    if method == "l2r":
        raise ValueError("--actual_step=reuse: L2R's example weights exist only after the "
                         "meta-gradient (it has no meta model to lag); use --actual_step=recompute "
                         "with --method=l2r")
    if method == "mlc" and mlc_update == "official":
        raise ValueError("--actual_step=reuse: MLC's official update starts every step from T = I, "
                         "so the reused step would never see the learned T; use --mlc_update=learned "
                         "or --actual_step=recompute")


def gradient(mode, method, c, d_phi):
    """(phi the actual step used, this replica's gradient of the actual step) for the
    VirtualPass `c` of step.py and the meta-gradient `d_phi` (see the module docstring)."""
    if mode == "reuse":
        return tf.stop_gradient(c.phi), c.recorded
    phi = method.actual_phi(c.losses, c.labels, d_phi)
    grads = fn.inner_gradient(c.inner, c.logits, c.weights,
                              c.objective.logit_grads(phi, c.logits_sg, c.labels))
    return phi, grads
