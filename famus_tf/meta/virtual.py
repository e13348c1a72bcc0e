"""The virtual step and the gated second-order meta-gradient (paper Eqs. 3, 7, 9).

Notation: w are the base network's weights, g = dL_train/dw the virtual-step
gradient, w_hat = w - alpha * g, u_l = dL_val(w_hat)/dw_hat_l, and phi the method's
meta quantity (example weights, or the transition matrix). By the chain rule

    dL_val/dphi = sum_l < u_l, -alpha * d g_l / d phi >,

one term per parameter tensor l (Eq. 7). FaMUS keeps the terms of the sampled
tensors only (Eq. 9); the value of w_hat is never gated. Optionally
(--gate_weighting=inverse_prob, not in the paper or its code) each kept candidate term
is divided by its keep probability, which makes the gated sum an unbiased estimate of
the full meta-gradient (`gated_meta_gradient`).

Implementation: the training forward pass is recorded once on a persistent tape.
Because every method's training loss depends on phi only through
dL_train/dlogits, g_l(phi) = J_l^T delta(phi) is one backward pass from the logits.
That backward pass (the virtual step's) runs under a second tape watching phi, and
the meta-gradient is a backward pass of that tape from the kept g_l to phi: a double
backward that runs from the logits down to the lowest kept tensor only. Which
tensors are kept is known only inside the step, so the step holds one traced branch
per candidate segment (see selection.py) and `tf.switch_case` runs the branch of
the lowest active segment. Inside a branch the gates are 0/1 masks.
"""
import tensorflow as tf

from famus_tf.meta import functional as fn
from famus_tf.meta import replicas
from famus_tf.meta import sampler as sampler_lib


def virtual_weights(weights, grads, lr):
    """w_hat = w - lr * g: plain SGD, no momentum or weight decay (Eq. 3)."""
    return [w - lr * g for w, g in zip(weights, grads)]


def validation_gradients(model, w_hat, non_trainable, images, labels, watch, loss_fn=None):
    """Validation loss at w_hat and its gradient w.r.t. the tensors in `watch`.

    `loss_fn(logits, labels)` is this replica's contribution to L_val (default: mean CE
    over the global meta batch; objective.py gives the co-training L_c).

    Only the watched tensors are differentiated, so the validation backward stops at
    the lowest of them: this is exactly the official code's `detach` of the
    activation entering the candidate block, for any candidate set.
    BatchNorm uses batch statistics; its new statistics are discarded. Under
    tf.distribute the loss is the mean over the global meta batch and the returned
    loss and gradients are summed over replicas (identical on every replica).
    """
    watched = [w_hat[i] for i in watch]
    with tf.GradientTape() as tape:
        tape.watch(watched)
        logits, _ = fn.forward(model, w_hat, non_trainable, images, training=True)
        if loss_fn is None:
            loss = replicas.batch_mean(fn.per_example_ce(logits, labels))
        else:
            loss = loss_fn(logits, labels)
    grads = tape.gradient(loss, watched, unconnected_gradients=fn.ZERO)
    loss, grads = replicas.all_sum((loss, grads))
    return loss, logits, dict(zip(watch, grads))


def recorded_gradients(inner, logits, weights, method, phi, logits_sg, labels):
    """The virtual-step gradient g(phi) of every tensor, recorded as a function of phi.

    `method` is anything with `logit_grads(phi, logits, labels)` (a method, or the
    step's objective, objective.py).

    Returns (tape, phi_sg, grads): `tape` is a persistent tape that watched
    phi_sg = stop_gradient(phi) while the backward pass ran, so that
    tape.gradient(g_l, phi_sg) is the second-order path of tensor l. In a graph the
    recording costs nothing at run time; only the paths asked for are computed.
    """
    phi_sg = tf.stop_gradient(phi)
    tape = tf.GradientTape(persistent=True)
    with tape:
        tape.watch(phi_sg)
        grads = fn.inner_gradient(inner, logits, weights,
                                  method.logit_grads(phi_sg, logits_sg, labels))
    return tape, phi_sg, grads


def meta_gradient(tape, phi_sg, grads, lr, u, tensors, masks, head=(), lambda_g=0.0,
                  lg_mode="paper", values=None, scale=None):
    """dL/dphi through the second-order paths of `tensors`, each scaled by its mask (0/1).

    L = L_val + lambda_g * L_g(g_head(phi), u_head). By the chain rule this is
    sum_l J_l^T c_l with c_l = mask_l * (-lr * u_l) + lambda_g * dL_g/dg_l: one
    backward pass from the kept gradients to phi, with those output gradients.
    `grads` are the recorded gradients (this replica's contribution under
    tf.distribute), `values` the global gradients the coefficients are computed from
    (default: `grads`). Since w_hat depends on this replica's phi only through its own
    contribution, the local backward with global coefficients is the exact dL/dphi.
    `scale` (float16 loss scaling, precision.py): the output gradients are multiplied
    by it and the result divided by it.
    """
    values = grads if values is None else values
    coeffs = {i: (masks[i] * tf.stop_gradient(-lr * u[i]) if masks.get(i) is not None
                  else tf.zeros_like(grads[i])) for i in tensors}
    if lambda_g and head:
        head_grads = [tf.stop_gradient(values[i]) for i in head]
        with tf.GradientTape() as lg_tape:
            lg_tape.watch(head_grads)
            lg = sampler_lib.gradient_match_loss(head_grads, [u[i] for i in head], lg_mode)
        for i, d in zip(head, lg_tape.gradient(lg, head_grads)):
            coeffs[i] = coeffs[i] + lambda_g * d
    kept = [i for i in tensors if masks.get(i) is not None or (lambda_g and i in head)]
    if not kept:
        return tf.zeros_like(phi_sg)
    if scale is not None:
        coeffs = {i: c * tf.cast(scale, c.dtype) for i, c in coeffs.items()}
    d_phi = tape.gradient([grads[i] for i in kept], phi_sg,
                          output_gradients=[coeffs[i] for i in kept],
                          unconnected_gradients=fn.ZERO)
    return d_phi if scale is None else d_phi / tf.cast(scale, d_phi.dtype)


KEEP_PROB_FLOOR = 0.05  # inverse_prob weights are at most 1 / 0.05 = 20


def gated_meta_gradient(selection, hard_gates, keep_probs=None, **kwargs):
    """Runs `meta_gradient` in the branch of the lowest active candidate segment.

    The mask of candidate l is its gate r_l (0/1), or with `keep_probs` (p_l = P(r_l = 1),
    --gate_weighting=inverse_prob) r_l / p_l: the inverse-probability (Horvitz-Thompson)
    weight. Since E[r_l / p_l] = 1, the weighted gated meta-gradient
    sum_{l always on} t_l + sum_{l candidate} (r_l / p_l) t_l is an unbiased estimate of
    the full one, sum_l t_l (Eq. 7), where Eq. 9's unweighted sum has mean
    sum_{always on} t_l + sum_l p_l t_l. p_l is floored at KEEP_PROB_FLOOR (a weight of at
    most 20), which bounds the variance and biases only terms kept less than 1 time in 20.
    The weights are stop-gradient and act on the path to phi only: the samplers' own
    training signal (the straight-through dL_c/dr_l and L_r, step.py `_gates`) is the
    paper's either way. Always-on tensors (the head) have weight 1.
    """
    from famus_tf.meta.selection import lowest_branch
    cand_pos = {c: k for k, c in enumerate(selection.candidates)}
    one = tf.ones([], kwargs["phi_sg"].dtype)
    weights = hard_gates
    if keep_probs is not None and hard_gates is not None:
        weights = hard_gates / tf.maximum(keep_probs, KEEP_PROB_FLOOR)

    def mask(i):
        if i in selection.always_on:
            return one
        if i in cand_pos:
            return tf.stop_gradient(weights[cand_pos[i]])
        return None  # the head's tensors used by L_g only

    def branch(b):
        tensors = selection.branch_tensors(b)
        return lambda: meta_gradient(tensors=tensors, masks={i: mask(i) for i in tensors},
                                     head=selection.head, **kwargs)

    if selection.num_branches == 1:  # full meta-gradient, or unbranched (XLA)
        return branch(0)()
    index = lowest_branch(selection, hard_gates)
    return tf.switch_case(index, [branch(b) for b in range(selection.num_branches)])
