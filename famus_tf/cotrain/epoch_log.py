"""What Algorithm 2 logs per epoch and network (TensorBoard and results.json).

Per network k (tags net{k}/...): the training scalars of its steps; its split (the one
made by its GMM; network k trains on the other network's): sizes of the labeled,
unlabeled and meta sets, the guard flags, the GMM means and, where the truth is known
(synthetic noise, CIFAR-N), the precision and recall of the labeled (and meta) set as a
detector of clean examples and the ROC AUC of the clean probability (divide.statistics),
with histograms of the clean probability of truly clean and truly noisy examples
(divide.clean_prob_by_truth); the mean example weights of clean and noisy rows
(WeightMeans: after MixUp a row takes its first example's flag, lambda' >= 1/2) and the
FaMUS gates. Untagged weights/clean_mean, weights/noisy_mean pool both networks (they
feed results.json's `weights`); results.json's `split` holds the last split's
statistics per network.
"""
import numpy as np
from absl import logging

from famus_tf.cotrain import divide
from famus_tf.train.summaries import WeightMeans, selection_counts, weight_histograms

_TAGS = {"loss": "train/loss", "accuracy": "train/accuracy", "val_loss": "meta/val_loss",
         "gate_fraction": "famus/gate_fraction", "loss_r": "famus/loss_r", "loss_g": "famus/loss_g",
         "loss_u": "train/loss_u"}


class EpochRecord(dict):
    """The epoch's accumulated records: weight means (pooled and per network), the last
    batch's weights, and the splits made at its start (if any)."""

    def __init__(self, weighted=False):
        super().__init__(weight_means=WeightMeans())
        self.per_net = [WeightMeans(), WeightMeans()]
        self.weighted = weighted
        self.splits, self.split_seconds, self.last = None, None, None

    def add_call(self, out, n, counts):
        """Scalars of one multi-step call of n iterations (`out`: the loop's per-network
        results); accumulates the weights and the gate counts."""
        scal = {}
        for k, net in enumerate(out):
            sums = net if isinstance(net, dict) else net[0]
            scal.update({f"net{k + 1}/{_TAGS[name]}": float(v) / n for name, v in sums.items()})
            if isinstance(net, dict):
                continue
            _, gates, weights, is_clean = net
            counts[k].assign_add(np.asarray(gates, np.float64))
            if self.weighted:
                w, c = weights.numpy(), is_clean.numpy()
                self["weight_means"].add(w, c)
                self.per_net[k].add(w, c)
                self.last = self.last or [None, None]
                self.last[k] = (w, c)
        return scal


def split_statistics(splits, truth):
    """{net1: statistics, net2: ...} of the splits made by each network's GMM."""
    return {f"net{k + 1}": divide.statistics(s, truth) for k, s in enumerate(splits)}


def write_epoch(trainer, result, last):
    """Per-network test scalars, split statistics and histograms, weights and gates;
    returns the split statistics (None if the epoch made no split)."""
    s, step = trainer.summaries, trainer.step
    for k in range(2):
        net = result[f"net{k + 1}"]
        for name, r in net.items():
            s.scalars(step, {f"net{k + 1}/{name}/{m}": r[m] for m in ("top1", "top5", "loss")})
        s.scalars(step, {f"net{k + 1}/{t}": v for t, v in last.per_net[k].scalars().items()})
        if last.last and last.last[k] is not None:
            weight_histograms(_Prefixed(s, f"net{k + 1}/"), step, *last.last[k])
        if trainer.num_candidates:
            variables = trainer.models[k].trainable_variables
            names = [variables[i].path for i in trainer.learners[k].selection.candidates]
            selection_counts(_Prefixed(s, f"net{k + 1}/"), step, trainer.counts[k].numpy(), names)
    if last.splits is None:
        s.flush()
        return None
    stats = split_statistics(last.splits, trainer.truth)
    for k, split in enumerate(last.splits):
        tag = f"net{k + 1}/split/"
        s.scalars(step, {tag + key: float(v) for key, v in stats[f"net{k + 1}"].items()})
        if trainer.truth is not None:
            clean, noisy = divide.clean_prob_by_truth(split, trainer.truth)
            s.histogram(step, tag + "clean_prob_clean", clean)
            s.histogram(step, tag + "clean_prob_noisy", noisy)
        logging.info("epoch %d net%d split: %s", result["epoch"], k + 1, _brief(stats[f"net{k + 1}"]))
    if last.split_seconds is not None:
        s.scalars(step, {"split/seconds": last.split_seconds})
    s.flush()
    return stats


def _brief(stats):
    return ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in stats.items())


class _Prefixed:
    """A Summaries whose tags get a prefix (for the one-network summary helpers)."""

    def __init__(self, summaries, prefix):
        self.s, self.prefix = summaries, prefix

    def histogram(self, step, name, values):
        self.s.histogram(step, self.prefix + name, values)

    def image(self, step, name, array):
        self.s.image(step, self.prefix + name, array)

    def text(self, step, name, text):
        self.s.text(step, self.prefix + name, text)
