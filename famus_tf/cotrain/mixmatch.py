"""Label co-refinement, co-guessing and MixUp of Algorithm 2 (ALGORITHM.md §8 steps 1-3).

Tensor functions, usable inside tf.function and XLA. Notation: net_a is the network
being trained, net_b the other one; p_a1, p_a2 (p_b1, p_b2) are the softmaxes of net_a
(net_b) on the two augmentations of a batch; y~ the noisy label, c its clean
probability from the other network's GMM (co-divide, divide.py); T = 0.5.

  sharpen(p, T)_k     = p_k^(1/T) / sum_j p_j^(1/T)
  refine (co-refinement)  t = sharpen(c * onehot(y~) + (1 - c) * (p_a1 + p_a2) / 2, T)
  co_guess                g = sharpen((p_a1 + p_a2 + p_b1 + p_b2) / 4, T)

Targets of the two parts of a training batch (`part_targets`):

  recipe 'famus' (the released CNWL code, the only specification of the per-iteration
  losses; the paper and supp give none): labeled AND unlabeled examples get the refined
  label t as target (for unlabeled ones c <= 0.5, so the noisy label still counts,
  weighted by its clean probability) and the co-guess g as guess;
  recipe 'dividemix' (DivideMix, the recipe FaMUS cites): labeled examples t = g =
  refined label, unlabeled ones t = g = co-guess.
The loss (losses.py) uses t in the cross-entropy of the labeled part and g in the MSE
of the unlabeled part; after MixUp both parts carry mixtures of both.

MixUp (`mix`): the batch [x_1, x_2, u_1, u_2] (4B rows; the meta batch [x_1, x_2], 2B)
is mixed as a whole with one lambda' = max(lambda, 1 - lambda), lambda ~ Beta(alpha,
alpha), and one permutation pi:

  x'_i = lambda' x_i + (1 - lambda') x_pi(i),  the same for targets and guesses.

Rows keep their role (row i < 2B stays in the labeled part). Randomness is
counter-based (famus_tf/counter_rng.py): lambda' and pi are functions of (step, stream, n)
only, the same on every replica, after a resume and under XLA. lambda' is drawn by
inversion, lambda' = F^-1((1 + u) / 2) with F the Beta(alpha, alpha) CDF
(tf.math.betainc) and u uniform: for t >= 1/2, P(lambda' <= t) = 2 F(t) - 1 by the
symmetry of Beta(alpha, alpha). F^-1 is found by 45 bisection steps on [1/2, 1]
(error < 2^-46), which avoids the stateless Gamma sampler (different numbers under
XLA). Under tf.distribute `mix` all-gathers the global batch so that each replica's
rows are mixed with the same partners as on a single device (`parts` says how the
replicas' rows interleave into the single-device layout).
"""
from typing import NamedTuple

import tensorflow as tf

from famus_tf import counter_rng
from famus_tf.meta import replicas

TEMPERATURE = 0.5
RECIPES = ("famus", "dividemix")
_BISECTION_STEPS = 45


def sharpen(p, temperature=TEMPERATURE):
    """p^(1/T) renormalised over the last axis."""
    q = tf.pow(p, 1.0 / temperature)
    return q / tf.reduce_sum(q, axis=-1, keepdims=True)


def _onehot(labels, num_classes, dtype):
    if labels.shape.rank == 2:
        return tf.cast(labels, dtype)
    return tf.one_hot(labels, num_classes, dtype=dtype)


def refine(labels, clean_prob, probs_1, probs_2, temperature=TEMPERATURE):
    """Label co-refinement: sharpen(c * onehot(y~) + (1 - c) * (p_1 + p_2) / 2, T).

    `probs_1`, `probs_2`: the trained network's softmaxes on the two augmentations.
    """
    c = tf.cast(clean_prob, probs_1.dtype)[:, None]
    onehot = _onehot(labels, tf.shape(probs_1)[-1], probs_1.dtype)
    return sharpen(c * onehot + (1.0 - c) * 0.5 * (probs_1 + probs_2), temperature)


def co_guess(probs_a1, probs_a2, probs_b1, probs_b2, temperature=TEMPERATURE):
    """Co-guessing: sharpen of the mean of both networks' softmaxes on both augmentations."""
    return sharpen(0.25 * (probs_a1 + probs_a2 + probs_b1 + probs_b2), temperature)


def part_targets(labels, clean_prob, probs_a, probs_b, labeled, recipe="famus",
                 temperature=TEMPERATURE):
    """(targets, guesses) of one part of a batch; `probs_a`/`probs_b` are pairs (aug 1, aug 2).

    See the module docstring for the two recipes; `labeled` says which part this is.
    """
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; choose one of {RECIPES}")
    refined = refine(labels, clean_prob, *probs_a, temperature=temperature)
    guess = co_guess(*probs_a, *probs_b, temperature=temperature)
    if recipe == "famus":
        return refined, guess
    return (refined, refined) if labeled else (guess, guess)


class MixBatch(NamedTuple):
    """Rows of a co-training batch: inputs [n, ...], targets and guesses [n, C], and
    `labeled` [n] (1.0 for rows of the labeled part, 0.0 for the unlabeled part)."""
    inputs: tf.Tensor
    targets: tf.Tensor
    guesses: tf.Tensor
    labeled: tf.Tensor


def assemble(labeled_part, unlabeled_part=None):
    """The batch [x_1, x_2, u_1, u_2] (or [x_1, x_2] for the meta batch).

    Each part is (aug_1, aug_2, targets, guesses); targets and guesses are repeated for
    the two augmentations.
    """
    parts = [(labeled_part, 1.0)] + ([(unlabeled_part, 0.0)] if unlabeled_part is not None else [])
    inputs, targets, guesses, labeled = [], [], [], []
    for (x1, x2, t, g), flag in parts:
        inputs += [x1, x2]
        targets += [t, t]
        guesses += [g, g]
        labeled.append(tf.fill([2 * tf.shape(x1)[0]], tf.constant(flag, t.dtype)))
    return MixBatch(tf.concat(inputs, 0), tf.concat(targets, 0), tf.concat(guesses, 0),
                    tf.concat(labeled, 0))


def beta_max_inverse(u, alpha):
    """lambda' = F^-1((1 + u) / 2) for F the Beta(alpha, alpha) CDF: max(lambda, 1 - lambda)
    of a Beta(alpha, alpha) draw, from a uniform u in (0, 1) (float64 bisection)."""
    u = tf.cast(u, tf.float64)
    a = tf.constant(float(alpha), tf.float64)
    target = 0.5 * (1.0 + u)
    lo, hi = tf.fill(tf.shape(u), tf.constant(0.5, tf.float64)), tf.ones_like(u)

    def bisect(k, lo, hi):
        mid = 0.5 * (lo + hi)
        below = tf.math.betainc(a, a, mid) < target
        return k + 1, tf.where(below, mid, lo), tf.where(below, hi, mid)

    _, lo, hi = tf.while_loop(lambda k, lo, hi: k < _BISECTION_STEPS, bisect,
                              (tf.constant(0), lo, hi), maximum_iterations=_BISECTION_STEPS)
    return 0.5 * (lo + hi)


def draw(n, alpha, step, stream):
    """(lambda', permutation of range(n)), functions of (step, stream, n) only."""
    if not alpha > 0:
        raise ValueError(f"the MixUp alpha must be positive, got {alpha}")
    u = counter_rng.uniform(n + 1, step, stream, tf.float64)
    return beta_max_inverse(u[0], alpha), tf.argsort(u[1:], stable=True)


def mixup(batch, lam, perm, source=None):
    """x'_i = lam * x_i + (1 - lam) * s_perm(i) for inputs, targets and guesses (one lam,
    one permutation), s = `source` (default: the batch itself); `labeled` flags stay
    with their rows."""
    source = batch if source is None else source

    def mixed(x, s):
        lam_x = tf.cast(lam, x.dtype)
        return lam_x * x + (1.0 - lam_x) * tf.gather(s, perm)

    return MixBatch(mixed(batch.inputs, source.inputs), mixed(batch.targets, source.targets),
                    mixed(batch.guesses, source.guesses), batch.labeled)


def mix(batch, alpha, step, stream, parts=1):
    """MixUp of the global batch with counter-based draws; returns (mixed batch, lambda').

    In a replica context with several replicas, the global batch is all-gathered and each
    replica returns its own rows, mixed with the partners the single-device permutation
    gives them. `parts`: the local batch is `parts` equal blocks (the assembled
    [x_1, x_2, u_1, u_2]: 4; the meta batch [x_1, x_2]: 2), and the global batch is laid
    out part by part, each part the concatenation of the replicas' blocks: the layout
    `assemble` gives on one device when the replicas' shards are consecutive slices of the
    global input batches. Local row j of block p on replica k is global row
    p * (b r) + k b + j (b rows per block, r replicas); with parts = 1 the global batch is
    the concatenation of the replicas' batches.
    """
    n_local = batch.inputs.shape[0] or tf.shape(batch.inputs)[0]
    r = replicas.num_replicas()
    lam, perm = draw(n_local * r, alpha, step, stream)
    if r == 1:
        return mixup(batch, lam, perm), lam
    gathered = tf.distribute.get_replica_context().all_gather(
        (batch.inputs, batch.targets, batch.guesses), axis=0)  # replica-major rows
    b = n_local // parts
    rows = tf.range(n_local)
    mine = (rows // b) * (b * r) + replicas.replica_id() * b + rows % b
    partner = tf.gather(perm, mine)  # part-major global index of each row's partner
    block, rest = partner // (b * r), partner % (b * r)
    source_rows = (rest // b) * n_local + block * b + rest % b  # its place in `gathered`
    return mixup(batch, lam, source_rows, MixBatch(*gathered, None)), lam
