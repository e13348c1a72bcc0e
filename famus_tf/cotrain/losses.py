"""The losses of Algorithm 2's iteration (ALGORITHM.md §8 steps 4-6).

On the mixed training batch (mixmatch.py; n = 4B rows, m_i = 1 on the labeled part,
the first 2B rows in the official layout; with lambda_u = 0 only those 2B rows), with softmax p_i of the logits z_i, target
t_i, guess g_i and C classes:

  cost_i = -sum_c t_ic log p_ic                     soft-target CE (also the VNet input)
  mse_i  = (1/C) sum_c (p_ic - g_ic)^2              (torch.mean over the class axis)
  P      = sum_c pi_c log(pi_c / pbar_c),  pbar = (1/n) sum_i p_i,  pi = 1/C  (prior penalty)
  L(v)   = (n / n_l) sum_i v_i [m_i cost_i + lambda_u(e) (1 - m_i) mse_i] + P        (step 4)

with n_l = sum_i m_i the labeled rows, v the example weights (the weighting network on the
detached cost, normalised to sum 1 over all n rows: MWNet.phi) and lambda_u(e) = lambda_u *
clip(e / 16, 0, 1), e the epoch counted from 0 after the warm-up (so the first epoch after
it has no MSE term). Reading of the normalisation (official `meta_step` / `model_step`,
which write the factor as 2): with uniform weights v_i = 1/n, L = mean_{labeled} cost +
lambda_u (n - n_l) / n_l mean_{unlabeled} mse + P; in the official layout (n_l = n / 2)
that is DivideMix's L_x + lambda_u L_u + prior, the factor 2 undoing the split of the unit
weight mass between the two halves. With lambda_u = 0 (WebVision, Clothing1M) the step
keeps only the labeled rows (cotrain/step.py, as DivideMix's scripts forward only the 2B
mixed labeled rows), so n_l = n and L = sum_i v_i cost_i + P, P over those rows: with
uniform weights DivideMix's L_x + prior. The actual step (step 6) uses the same L with the
updated meta model's weights held constant.

The meta loss on the mixed meta batch (its images twice, one row per augmentation, all
labeled; official: 128 images, 256 rows; step 5):

  L_c = (1/m) sum_j cost_j + P(meta batch)

(the official code computes guesses for the meta batch but does not use them).

The engine needs L only through its per-example logit gradients, as a function of v
(meta/method.py: `logit_grads(phi, logits, labels)`, differentiable in phi):

  dL/dz_i = (n / n_l) v_i m_i (p_i - t_i)
          + (n / n_l) v_i lambda_u (1 - m_i) (2/C) p_i * ((p_i - g_i) - <p_i - g_i, p_i>)
          - (1/n) p_i * (pi / pbar - <pi / pbar, p_i>)

(* element-wise over classes; the last line is dP/dz_i and does not depend on v).

Under tf.distribute every function returns this replica's contribution: sums over
replicas give the global loss, n is the global batch size and pbar the global mean
(summed over replicas), n / n_l the global ratio, so the per-replica logit gradients of the
local rows are exact.
"""
from typing import NamedTuple

import tensorflow as tf

from famus_tf.meta import functional as fn
from famus_tf.meta import replicas



class Supervision(NamedTuple):
    """What a co-training batch is trained against (the engine's `labels`): targets and
    guesses [n, C], `labeled` [n] (1.0 / 0.0) and the ramped lambda_u (a scalar tensor)."""
    targets: tf.Tensor
    guesses: tf.Tensor
    labeled: tf.Tensor
    lambda_u: tf.Tensor


def per_example_cost(logits, targets):
    """cost_i = soft-target cross-entropy (the weighting network's input)."""
    return fn.soft_ce(logits, tf.cast(targets, logits.dtype))


def per_example_mse(logits, guesses):
    """mse_i = mean over classes of (softmax_i - g_i)^2."""
    return tf.reduce_mean(tf.square(tf.nn.softmax(logits) - tf.cast(guesses, logits.dtype)), -1)


def _mean_probs(probs):
    """pbar over the global batch (differentiable: the all-sum passes gradients back)."""
    return replicas.all_sum(tf.reduce_sum(probs, 0)) / replicas.global_size(probs)


def prior_penalty(logits):
    """This replica's contribution to P = sum_c pi_c log(pi_c / pbar_c), pi uniform.

    The value is P / replicas (their sum is P); its gradient w.r.t. the local logits is
    the exact dP/dz of the local rows.
    """
    pbar = _mean_probs(tf.nn.softmax(logits))
    prior = tf.fill(tf.shape(pbar), 1.0 / tf.cast(tf.shape(pbar)[0], logits.dtype))
    penalty = tf.reduce_sum(prior * tf.math.log(prior / pbar))
    return penalty / tf.cast(replicas.num_replicas(), logits.dtype)


def labeled_scale(labeled, dtype):
    """n / n_l of the global batch: all rows over labeled rows (2 in the official layout,
    1 when the step keeps only the labeled rows)."""
    m = tf.cast(labeled, dtype)
    return replicas.global_size(m) / replicas.all_sum(tf.reduce_sum(m))


def virtual_loss(weights, logits, sup, prior=True):
    """L(v) of step 4 (this replica's contribution), `sup` a Supervision."""
    m = tf.cast(sup.labeled, logits.dtype)
    lam = tf.cast(sup.lambda_u, logits.dtype)
    per_example = (m * per_example_cost(logits, sup.targets)
                   + lam * (1.0 - m) * per_example_mse(logits, sup.guesses))
    scale = labeled_scale(sup.labeled, logits.dtype)
    loss = scale * tf.reduce_sum(tf.cast(weights, logits.dtype) * per_example)
    return loss + prior_penalty(logits) if prior else loss


def prior_logit_grads(logits):
    """dP/dz_i = -(1/n) p_i * (pi / pbar - <pi / pbar, p_i>), n and pbar global."""
    probs = tf.nn.softmax(logits)
    pbar = _mean_probs(probs)
    ratio = (1.0 / tf.cast(tf.shape(probs)[-1], probs.dtype)) / pbar
    inner = tf.reduce_sum(probs * ratio, -1, keepdims=True)
    return -probs * (ratio - inner) / replicas.global_size(probs)


def mse_logit_grads(logits, guesses):
    """d mse_i / dz_i = (2/C) p_i * ((p_i - g_i) - <p_i - g_i, p_i>)."""
    probs = tf.nn.softmax(logits)
    diff = probs - tf.cast(guesses, probs.dtype)
    inner = tf.reduce_sum(diff * probs, -1, keepdims=True)
    return 2.0 / tf.cast(tf.shape(probs)[-1], probs.dtype) * probs * (diff - inner)


def virtual_logit_grads(weights, logits, sup, prior=True):
    """dL(v)/dz per example [n, C], linear in the weights v (differentiable in them).

    The engine's `logit_grads(phi, logits, labels)` with phi = v and labels = `sup`.
    """
    m = tf.cast(sup.labeled, logits.dtype)[:, None]
    lam = tf.cast(sup.lambda_u, logits.dtype)
    probs = tf.nn.softmax(logits)
    per_example = (m * (probs - tf.cast(sup.targets, logits.dtype))
                   + lam * (1.0 - m) * mse_logit_grads(logits, sup.guesses))
    scale = labeled_scale(sup.labeled, logits.dtype)
    grads = scale * tf.cast(weights, logits.dtype)[:, None] * per_example
    return grads + prior_logit_grads(logits) if prior else grads


def meta_loss(logits, targets, prior=True):
    """L_c of step 5 (this replica's contribution): mean soft-target CE + prior penalty."""
    loss = replicas.batch_mean(per_example_cost(logits, targets))
    return loss + prior_penalty(logits) if prior else loss
