"""The per-epoch split of the training set by a two-component GMM on the losses
(ALGORITHM.md §7 steps 1-3; supp §E "Details of meta-learning validation set").

For one network, with per-example training losses l_i (evaluation mode, no
augmentation; eval_train.py):

  1. min-max normalise:  x_i = (l_i - min l) / (max l - min l)   (x = 0 if all equal);
  2. fit a GMM with two components (sklearn GaussianMixture: max_iter 10, tol 1e-2,
     reg_covar 5e-4) to the column {x_i};
  3. clean probability c_i = posterior of the component with the smaller mean:

        c_i = pi_lo N(x_i; mu_lo, s_lo^2) / sum_k pi_k N(x_i; mu_k, s_k^2);

  4. labeled set = {i : c_i > p_threshold}, unlabeled set = the rest; meta (pseudo-clean
     validation) set = {i : c_i > meta_threshold} (both thresholds 0.5 in the official
     code, so the meta set equals the labeled set).
     Guard of the official code: if the labeled set has fewer than `min_labeled` (64) or
     more than `max_labeled` (45,000) examples, labeled = {i : c_i > median(c)}.
     When c saturates (many c_i = 1.0 exactly, seen on a few dozen examples) that set is
     empty; then it is the lower half of the examples by loss, which orders them as c
     does, without ties (not in the official code, which trains on nothing there).

Co-divide (§7 step 3): network k trains on the split made by the *other* network's GMM
(`co_divide`). The clean-set detector statistics (`statistics`) compare the labeled
set and c with the true clean mask where it is known (synthetic noise, CIFAR-N).

Everything here is numpy + sklearn on the host, deterministic given the seed: the GMM's
k-means initialisation is the only randomness, seeded by `split_seed(seed, epoch,
network)`, so a resumed run recomputes the same split from the same networks.
"""
import dataclasses

import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.mixture import GaussianMixture

# The official guard, written for CIFAR / CNWL (50,000 images, batch 64).
MIN_LABELED = 64
MAX_LABELED = 45_000


@dataclasses.dataclass(frozen=True)
class Split:
    """One network's split of the N training examples (arrays in training-set order).

    clean_prob: [N] c_i (0 for examples whose loss was not finite: never evaluated);
    evaluated: [N] bool, the loss was finite (all True unless the caller evaluated a
    subset, e.g. Clothing1M's per-epoch sample, or files were unreadable);
    labeled, meta: [N] bool masks (subsets of `evaluated`); unlabeled = evaluated & ~labeled;
    normalised_losses: [N] the GMM's input x_i (NaN where the loss was not finite);
    means, variances, weights: the fitted components, ordered (low-loss, high-loss);
    guarded: the median guard replaced the labeled set; meta_guarded: same for the meta set.
    """
    clean_prob: np.ndarray
    evaluated: np.ndarray
    labeled: np.ndarray
    meta: np.ndarray
    normalised_losses: np.ndarray
    means: np.ndarray
    variances: np.ndarray
    weights: np.ndarray
    guarded: bool
    meta_guarded: bool

    @property
    def labeled_indices(self):
        return np.flatnonzero(self.labeled)

    @property
    def unlabeled_indices(self):
        return np.flatnonzero(self.evaluated & ~self.labeled)

    @property
    def meta_indices(self):
        return np.flatnonzero(self.meta)


def split_seed(seed, epoch, network):
    """The GMM's random_state for (run seed, epoch, network): a pure function of the three."""
    state = np.random.SeedSequence([int(seed), int(epoch), int(network)]).generate_state(1)
    return int(state[0] % (2 ** 31 - 1))


def guard_bounds(num_examples, batch_size):
    """(min_labeled, max_labeled) of the guard, scaled to a data set of `num_examples`.

    The official bounds (64, 45,000) are one batch of B = 64 and 90% of CIFAR's 50,000
    images: the labeled loader must fill a batch, and the unlabeled part must keep
    examples. Scaled: min = B, max = min(floor(0.9 N), N - B) (so the unlabeled set
    fills a batch too); for N = 50,000 and B = 64 this is (64, 45,000); for the 1,258
    training digits (the 70% split of load_digits_splits) and B = 32, (32, 1132).
    Raises ValueError when N < 2B.
    """
    if num_examples < 2 * batch_size:
        raise ValueError(f"the split needs at least two batches of {batch_size} examples, "
                         f"got {num_examples}")
    return batch_size, min(int(0.9 * num_examples), num_examples - batch_size)


def normalise(losses):
    """Min-max normalisation to [0, 1] over the finite entries (all 0 if they are equal)."""
    losses = np.asarray(losses, np.float64)
    finite = np.isfinite(losses)
    lo, hi = losses[finite].min(), losses[finite].max()
    out = np.full_like(losses, np.nan)
    out[finite] = (losses[finite] - lo) / (hi - lo) if hi > lo else 0.0
    return out


def fit_gmm(normalised, random_state, max_iter=10, tol=1e-2, reg_covar=5e-4):
    """The two-component GMM of the official eval_train, fitted to the finite entries."""
    x = normalised[np.isfinite(normalised)].reshape(-1, 1)
    gmm = GaussianMixture(n_components=2, max_iter=max_iter, tol=tol, reg_covar=reg_covar,
                          random_state=random_state)
    return gmm.fit(x)


def clean_probability(gmm, normalised):
    """c_i = posterior of the lower-mean component (0 where the input is not finite)."""
    finite = np.isfinite(normalised)
    prob = np.zeros(normalised.shape, np.float64)
    post = gmm.predict_proba(normalised[finite].reshape(-1, 1))
    prob[finite] = post[:, int(np.argmin(gmm.means_.ravel()))]
    return prob


def _select(prob, evaluated, threshold, lo, hi, losses):
    """prob > threshold, or when its size is outside [lo, hi] the median guard: prob >
    median(prob) over the evaluated examples, or, if ties at the median leave that empty,
    the lower half of the evaluated examples by `losses`. Returns (set, guarded)."""
    chosen = prob > threshold
    if lo <= chosen.sum() <= hi:
        return chosen, False
    chosen = evaluated & (prob > np.median(prob[evaluated]))
    if chosen.any():
        return chosen, True
    rows = np.flatnonzero(evaluated)
    lowest = rows[np.argsort(losses[rows], kind="stable")[:len(rows) // 2]]
    chosen = np.zeros_like(evaluated)
    chosen[lowest] = True
    return chosen, True


def split(losses, random_state, p_threshold=0.5, meta_threshold=0.5, min_labeled=MIN_LABELED,
          max_labeled=MAX_LABELED, min_meta=1, gmm_options=None):
    """The split of one network's per-example losses [N] (training-set order).

    Labeled: c > p_threshold, with the median guard outside [min_labeled, max_labeled]
    (official code; see `guard_bounds` for small data sets). Meta: c > meta_threshold;
    the official code applies no guard to it (and fails on an empty meta set); here the
    median split replaces it only when it has fewer than `min_meta` examples (default 1:
    only the empty set, where the official code has no behaviour to follow).
    Non-finite losses (examples not evaluated: outside Clothing1M's epoch sample, or
    unreadable) are left out of the fit, get c = 0 and belong to no set.
    `gmm_options`: overrides of max_iter / tol / reg_covar.
    """
    x = normalise(losses)
    gmm = fit_gmm(x, random_state, **(gmm_options or {}))
    prob = clean_probability(gmm, x)
    evaluated = np.isfinite(x)
    labeled, guarded = _select(prob, evaluated, p_threshold, min_labeled, max_labeled, x)
    meta, meta_guarded = _select(prob, evaluated, meta_threshold, min_meta, np.inf, x)
    order = np.argsort(gmm.means_.ravel())
    return Split(clean_prob=prob, evaluated=evaluated, labeled=labeled, meta=meta, normalised_losses=x,
                 means=gmm.means_.ravel()[order], variances=gmm.covariances_.ravel()[order],
                 weights=gmm.weights_[order], guarded=guarded, meta_guarded=meta_guarded)


def co_divide(splits):
    """The splits each network trains on: network k uses the split of the other one.

    `splits[k]` is the split made by network k's GMM (Algorithm 2 lines 2-3); the result
    is (splits[1], splits[0]) (lines 4-5: D_2^clean trains w^1, D_1^clean trains w^2).
    """
    first, second = splits
    return second, first


def statistics(split_result, is_clean=None):
    """Scalars to log for one split; with the true clean mask, the detector's quality.

    Always: sizes of the labeled / unlabeled / meta sets, the guard flags and the GMM means.
    With `is_clean` ([N] bool, the noisy label equals the true one; only the evaluated
    examples count): precision and recall of the labeled set as a detector of clean
    examples (precision = |L & clean| / |L|, recall = |L & clean| / |clean|), the same for
    the meta set, and the ROC AUC of c as a score of cleanness (NaN when only one class
    is present).
    """
    s = split_result
    out = {"labeled_size": int(s.labeled.sum()), "unlabeled_size": len(s.unlabeled_indices),
           "meta_size": int(s.meta.sum()), "guarded": bool(s.guarded),
           "meta_guarded": bool(s.meta_guarded), "gmm_mean_low": float(s.means[0]),
           "gmm_mean_high": float(s.means[1])}
    if is_clean is None:
        return out
    is_clean = np.asarray(is_clean, bool) & s.evaluated
    prob = s.clean_prob[s.evaluated]
    for name, chosen in (("labeled", s.labeled), ("meta", s.meta)):
        hits = float(np.sum(chosen & is_clean))
        out[f"{name}_precision"] = hits / float(chosen.sum()) if chosen.any() else float("nan")
        out[f"{name}_recall"] = hits / float(is_clean.sum()) if is_clean.any() else float("nan")
    truth = is_clean[s.evaluated]
    both = truth.any() and (~truth).any()
    out["clean_prob_auc"] = float(roc_auc_score(truth, prob)) if both else float("nan")
    return out


def clean_prob_by_truth(split_result, is_clean):
    """(c of the truly clean examples, c of the truly noisy ones) among the evaluated
    examples: histogram inputs."""
    s, is_clean = split_result, np.asarray(is_clean, bool)
    return s.clean_prob[is_clean & s.evaluated], s.clean_prob[~is_clean & s.evaluated]
