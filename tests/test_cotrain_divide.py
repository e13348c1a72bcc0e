"""The GMM split of Algorithm 2 (famus_tf/cotrain/divide.py) on losses from known modes."""
import numpy as np
import pytest
from scipy.stats import norm

from famus_tf.cotrain import divide


def _losses(n=3000, clean_fraction=0.6, seed=0, noisy_mean=2.5):
    """Per-example losses: clean ones around 0.3, noisy ones around `noisy_mean`."""
    rng = np.random.default_rng(seed)
    is_clean = rng.random(n) < clean_fraction
    losses = np.where(is_clean, np.abs(rng.normal(0.3, 0.1, n)), rng.normal(noisy_mean, 0.4, n))
    return losses, is_clean


def test_split_recovers_the_clean_set():
    losses, is_clean = _losses()
    s = divide.split(losses, random_state=3)
    stats = divide.statistics(s, is_clean)
    assert stats["labeled_precision"] > 0.95 and stats["labeled_recall"] > 0.95
    assert stats["clean_prob_auc"] > 0.99
    assert not s.guarded and not s.meta_guarded
    np.testing.assert_array_equal(s.meta, s.labeled)  # equal thresholds: meta set = labeled set
    np.testing.assert_array_equal(s.labeled, s.clean_prob > 0.5)
    np.testing.assert_array_equal(s.unlabeled_indices, np.flatnonzero(s.clean_prob <= 0.5))
    assert s.means[0] < s.means[1]
    # the fitted components sit on the two modes (in normalised units)
    lo, hi = losses.min(), losses.max()
    np.testing.assert_allclose(s.means * (hi - lo) + lo, [0.3, 2.5], atol=0.1)


def test_clean_probability_is_the_bayes_posterior_of_the_low_component():
    losses, _ = _losses(seed=1)
    s = divide.split(losses, random_state=0)
    x = (losses - losses.min()) / (losses.max() - losses.min())
    np.testing.assert_allclose(s.normalised_losses, x, rtol=0, atol=1e-15)
    dens = [w * norm.pdf(x, m, np.sqrt(v)) for w, m, v in zip(s.weights, s.means, s.variances)]
    np.testing.assert_allclose(s.clean_prob, dens[0] / (dens[0] + dens[1]), rtol=1e-9, atol=1e-12)


def test_split_is_deterministic_given_the_seed():
    losses, _ = _losses(seed=2, noisy_mean=1.0)  # overlapping modes: the fit depends on the init
    a = divide.split(losses, divide.split_seed(7, 3, 0))
    b = divide.split(losses, divide.split_seed(7, 3, 0))
    np.testing.assert_array_equal(a.clean_prob, b.clean_prob)
    assert divide.split_seed(7, 3, 0) != divide.split_seed(7, 4, 0) != divide.split_seed(7, 3, 1)


@pytest.mark.parametrize("bounds", [(2000, 45_000), (64, 1000)])
def test_guard_gives_the_median_split(bounds):
    losses, _ = _losses()  # about 1,800 labeled: below 2,000 in one case, above 1,000 in the other
    s = divide.split(losses, random_state=3, min_labeled=bounds[0], max_labeled=bounds[1])
    assert s.guarded and not s.meta_guarded
    np.testing.assert_array_equal(s.labeled, s.clean_prob > np.median(s.clean_prob))
    np.testing.assert_array_equal(s.meta, s.clean_prob > 0.5)  # the meta set is not guarded
    unguarded = divide.split(losses, random_state=3)
    assert unguarded.labeled.sum() != s.labeled.sum()


def test_empty_meta_set_falls_back_to_the_median_split():
    losses, _ = _losses()
    s = divide.split(losses, random_state=3, meta_threshold=1.0)
    assert s.meta_guarded
    np.testing.assert_array_equal(s.meta, s.clean_prob > np.median(s.clean_prob))


def test_non_finite_losses_are_left_out_and_unlabeled():
    losses, _ = _losses()
    full = divide.split(losses, random_state=3)
    holes = losses.copy()
    holes[[5, 17]] = np.nan
    s = divide.split(holes, random_state=3)
    assert s.clean_prob[5] == 0 and s.clean_prob[17] == 0 and not s.labeled[[5, 17]].any()
    keep = np.ones(len(losses), bool)
    keep[[5, 17]] = False
    np.testing.assert_array_equal(s.evaluated, keep)
    assert not np.isin([5, 17], s.unlabeled_indices).any() and not s.meta[[5, 17]].any()
    assert len(s.labeled_indices) + len(s.unlabeled_indices) == len(losses) - 2
    np.testing.assert_allclose(s.clean_prob[keep], full.clean_prob[keep], atol=0.05)
    guarded = divide.split(holes, random_state=3, max_labeled=1000)
    np.testing.assert_array_equal(guarded.labeled,
                                  keep & (guarded.clean_prob > np.median(guarded.clean_prob[keep])))
    _, is_clean = _losses()
    stats = divide.statistics(s, is_clean)
    clean_eval = is_clean & keep
    assert stats["labeled_recall"] == pytest.approx(np.sum(s.labeled & clean_eval) / clean_eval.sum())
    clean, noisy = divide.clean_prob_by_truth(s, is_clean)
    assert clean.size + noisy.size == len(losses) - 2


def test_constant_losses_do_not_divide_by_zero():
    np.testing.assert_array_equal(divide.normalise(np.full(10, 2.0)), np.zeros(10))


def test_co_divide_swaps():
    a = divide.split(_losses(seed=4)[0], 0)
    b = divide.split(_losses(seed=5)[0], 0)
    for_first, for_second = divide.co_divide((a, b))
    assert for_first is b and for_second is a


def test_statistics_against_direct_counts():
    losses, is_clean = _losses(seed=6, noisy_mean=0.9)  # overlapping: imperfect detector
    s = divide.split(losses, random_state=1)
    stats = divide.statistics(s, is_clean)
    tp = np.sum(s.labeled & is_clean)
    assert stats["labeled_precision"] == pytest.approx(tp / s.labeled.sum())
    assert stats["labeled_recall"] == pytest.approx(tp / is_clean.sum())
    assert stats["labeled_size"] + stats["unlabeled_size"] == len(losses)
    assert stats["meta_size"] == s.meta.sum()
    # AUC = P(c of a clean example > c of a noisy one), ties counted half (Mann-Whitney)
    c, n = s.clean_prob[is_clean], s.clean_prob[~is_clean]
    auc = (np.sum(c[:, None] > n[None, :]) + 0.5 * np.sum(c[:, None] == n[None, :])) / (c.size * n.size)
    assert stats["clean_prob_auc"] == pytest.approx(auc, rel=1e-12)
    assert 0.6 < stats["clean_prob_auc"] < 0.999
    clean, noisy = divide.clean_prob_by_truth(s, is_clean)
    np.testing.assert_array_equal(clean, c)
    np.testing.assert_array_equal(noisy, n)
    assert set(divide.statistics(s)) == {"labeled_size", "unlabeled_size", "meta_size", "guarded",
                                         "meta_guarded", "gmm_mean_low", "gmm_mean_high"}


def test_guard_bounds():
    assert divide.guard_bounds(50_000, 64) == (divide.MIN_LABELED, divide.MAX_LABELED)
    assert divide.guard_bounds(1258, 32) == (32, 1132)
    assert divide.guard_bounds(200, 64) == (64, 136)
    with pytest.raises(ValueError, match="two batches"):
        divide.guard_bounds(100, 64)


def test_median_guard_with_saturated_clean_probabilities_takes_the_lower_half_by_loss():
    # 40 identical low losses and 10 high ones: c = 1.0 exactly for the 40, so the median
    # guard's {c > median(c)} is empty; the guard then takes the lower half by loss.
    losses = np.r_[np.zeros(40), np.ones(10)] + np.r_[np.arange(40) * 1e-9, np.zeros(10)]
    s = divide.split(losses, random_state=0, min_labeled=64, meta_threshold=1.0)
    assert np.sum(s.clean_prob == np.median(s.clean_prob)) > 25  # ties at the median
    assert s.guarded and s.meta_guarded
    np.testing.assert_array_equal(np.flatnonzero(s.labeled), np.arange(25))  # lowest losses
    np.testing.assert_array_equal(s.meta, s.labeled)
    plain = divide.split(losses, random_state=0, min_labeled=1)
    assert not plain.guarded and plain.labeled.sum() == 40
