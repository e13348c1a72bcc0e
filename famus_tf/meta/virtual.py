"""The virtual step and the gated second-order meta-gradient (paper Eqs. 3, 7, 9).

Notation: w are the base network's weights, g = dL_train/dw the virtual-step
gradient, w_hat = w - alpha * g, u_l = dL_val(w_hat)/dw_hat_l, and phi the method's
meta quantity (example weights, or the transition matrix). By the chain rule

    dL_val/dphi = sum_l < u_l, -alpha * d g_l / d phi >,

one term per parameter tensor l (Eq. 7). FaMUS keeps the terms of the sampled
tensors only (Eq. 9); the value of w_hat is never gated.

Implementation: the training forward pass is recorded once on a persistent tape.
Because every method's training loss depends on phi only through
dL_train/dlogits, g_l(phi) = J_l^T delta(phi) is one backward pass from the logits,
and its derivative w.r.t. phi is taken by a second tape around that backward pass:
a double backward that runs from the logits down to the lowest kept tensor. Which
tensors are kept is known only inside the step, so the step holds one traced branch
per candidate segment (see selection.py) and `tf.switch_case` runs the branch of
the lowest active segment. Inside a branch the gates are 0/1 masks.
"""
import tensorflow as tf

from famus_tf.meta import functional as fn
from famus_tf.meta import sampler as sampler_lib


def virtual_weights(weights, grads, lr):
    """w_hat = w - lr * g: plain SGD, no momentum or weight decay (Eq. 3)."""
    return [w - lr * g for w, g in zip(weights, grads)]


def validation_gradients(model, w_hat, non_trainable, images, labels, watch):
    """Validation loss at w_hat and its gradient w.r.t. the tensors in `watch`.

    Only the watched tensors are differentiated, so the validation backward stops at
    the lowest of them: this is exactly the official code's `detach` of the
    activation entering the candidate block, for any candidate set.
    BatchNorm uses batch statistics; its new statistics are discarded.
    """
    watched = [w_hat[i] for i in watch]
    with tf.GradientTape() as tape:
        tape.watch(watched)
        logits, _ = fn.forward(model, w_hat, non_trainable, images, training=True)
        loss = tf.reduce_mean(fn.per_example_ce(logits, labels))
    grads = tape.gradient(loss, watched, unconnected_gradients=fn.ZERO)
    return loss, logits, dict(zip(watch, grads))


def meta_gradient(inner, logits, weights, method, phi, logits_sg, labels, lr, u,
                  tensors, masks, head=(), lambda_g=0.0, lg_mode="paper"):
    """dL/dphi restricted to `tensors`, each term multiplied by its mask (0/1).

    L = L_val + lambda_g * L_g(g_head(phi), u_head); `inner` is the persistent tape of
    the training forward pass. Returns a tensor shaped like phi.
    """
    phi = tf.stop_gradient(phi)
    with tf.GradientTape() as tape:
        tape.watch(phi)
        delta = method.logit_grads(phi, logits_sg, labels)
        grads = dict(zip(tensors, fn.inner_gradient(inner, logits, [weights[i] for i in tensors],
                                                   delta)))
        terms = [masks[i] * fn.dot(tf.stop_gradient(-lr * u[i]), grads[i])
                 for i in tensors if masks.get(i) is not None]
        if lambda_g and head:
            terms.append(lambda_g * sampler_lib.gradient_match_loss(
                [grads[i] for i in head], [u[i] for i in head], lg_mode))
        objective = tf.add_n(terms) if terms else tf.zeros([], phi.dtype)
    return tape.gradient(objective, phi, unconnected_gradients=fn.ZERO)


def gated_meta_gradient(selection, hard_gates, **kwargs):
    """Runs `meta_gradient` in the branch of the lowest active candidate segment."""
    from famus_tf.meta.selection import lowest_branch
    cand_pos = {c: k for k, c in enumerate(selection.candidates)}
    one = tf.ones([], kwargs["logits_sg"].dtype)

    def mask(i):
        if i in selection.always_on:
            return one
        if i in cand_pos:
            return tf.stop_gradient(hard_gates[cand_pos[i]])
        return None  # the head's tensors used by L_g only

    def branch(b):
        tensors = selection.branch_tensors(b)
        return lambda: meta_gradient(tensors=tensors, masks={i: mask(i) for i in tensors},
                                     head=selection.head, **kwargs)

    if selection.num_branches == 1:
        return branch(0)()
    index = lowest_branch(selection, hard_gates)
    return tf.switch_case(index, [branch(b) for b in range(selection.num_branches)])
