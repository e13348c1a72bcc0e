"""The training loss of every method: cross-entropy, or LDAM with deferred re-weighting.

The engine needs, per training example i with logits z_i and label y_i, the loss
l_i and its gradient d l_i / d z_i (the methods scale these per example, or feed the
logits through MLC's T first). This module is the one place that defines both.

  ce     l_i = CE(z_i, y_i),  d l_i / d z_i = softmax(z_i) - e_{y_i}.
  ldam   LDAM (Cao et al., NeurIPS 2019): class margins m_c = C / n_c^(1/4) with C such
         that max_c m_c = max_margin (0.5 in the paper's code), n_c the class's
         training count. The true-class logit is lowered by its margin and the logits
         are scaled by s (30):
             a_i = s * (z_i - m_{y_i} e_{y_i}),   l_i = CE(a_i, y_i),
             d l_i / d z_i = s * (softmax(a_i) - e_{y_i}).
         (Cao et al. compute z with a normalised, cosine classifier: `--head=cosine`,
         famus_tf/models/heads.py.)

Deferred re-weighting (DRW, Cao et al. Sec. 3.3): from iteration `drw_step` on, l_i
is multiplied by the class weight c_{y_i}, with c from the effective number of samples
(Cui et al. 2019): c_k = (1 - beta) / (1 - beta^{n_k}), normalised so that sum_k c_k = C
(the number of classes); beta = 0.9999. Before `drw_step` (or with drw_step = 0, off)
c = 1. The switch is a tensor comparison with the base optimiser's iteration inside
the step, so it needs no retracing.

The plain step reduces the weighted losses as the LDAM-DRW code does (PyTorch's
weighted cross-entropy): sum_i c_{y_i} l_i / sum_i c_{y_i} over the global batch; with
c = 1 that is the mean. The meta methods use c_{y_i} l_i as their per-example loss.
"""
import numpy as np
import tensorflow as tf

from famus_tf.meta import functional as fn
from famus_tf.meta import replicas

LOSSES = ("ce", "ldam")


def ce_logit_grads(logits, labels):
    """d CE / d logits per example: softmax - one-hot (or - soft targets)."""
    probs = tf.nn.softmax(logits)
    if labels.shape.rank == 1:
        labels = tf.one_hot(labels, tf.shape(logits)[-1], dtype=probs.dtype)
    return probs - tf.cast(labels, probs.dtype)


def _counts(class_counts):
    counts = np.asarray(class_counts, np.float64)
    if counts.ndim != 1 or counts.size < 1:
        raise ValueError("class_counts: expected one training count per class")
    return np.maximum(counts, 1.0)  # an empty class gets the margin / weight of one example


def ldam_margins(class_counts, max_margin=0.5):
    """m_c proportional to n_c^(-1/4), the largest equal to `max_margin`."""
    m = _counts(class_counts) ** -0.25
    return m * (max_margin / m.max())


def drw_class_weights(class_counts, beta=0.9999):
    """(1 - beta) / (1 - beta^n_c), normalised to sum to the number of classes."""
    counts = _counts(class_counts)
    w = (1.0 - beta) / (1.0 - np.power(beta, counts))
    return w * (len(counts) / w.sum())


class TrainingLoss:
    """Per-example training loss and its logit gradient (see the module docstring).

    `iterations` is the base optimiser's iteration variable (read for DRW only).
    """

    def __init__(self, kind="ce", class_counts=None, max_margin=0.5, scale=30.0,
                 drw_step=0, drw_beta=0.9999, iterations=None, dtype=tf.float32):
        if kind not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {kind!r}")
        needs_counts = kind == "ldam" or drw_step > 0
        if needs_counts and class_counts is None:
            raise ValueError("LDAM and DRW need the per-class training counts (class_counts)")
        if drw_step > 0 and iterations is None:
            raise ValueError("DRW needs the optimiser's iteration variable")
        if not 0.0 <= drw_beta < 1.0:
            raise ValueError(f"drw_beta must be in [0, 1), got {drw_beta}")
        self.kind, self.scale, self.drw_step, self.iterations = kind, float(scale), int(drw_step), iterations
        self.margins = (tf.constant(ldam_margins(class_counts, max_margin), dtype)
                        if kind == "ldam" else None)
        self.drw = (tf.constant(drw_class_weights(class_counts, drw_beta), dtype)
                    if drw_step > 0 else None)

    def class_weights(self, labels, dtype):
        """c_{y_i} per example (a tensor), or None while DRW is off for the whole run."""
        if self.drw is None:
            return None
        on = tf.cast(self.iterations >= self.drw_step, dtype)
        c = tf.gather(tf.cast(self.drw, dtype), labels)
        return on * c + (1.0 - on)

    def _adjusted(self, logits, labels):
        if labels.shape.rank != 1:
            raise ValueError("the LDAM loss needs integer labels")
        margin = tf.gather(tf.cast(self.margins, logits.dtype), labels)
        one_hot = tf.one_hot(labels, tf.shape(logits)[-1], dtype=logits.dtype)
        return self.scale * (logits - margin[:, None] * one_hot)

    def _raw(self, logits, labels):
        if self.kind == "ce":
            if labels.shape.rank == 1:
                return fn.per_example_ce(logits, labels)
            return fn.soft_ce(logits, labels)
        return fn.per_example_ce(self._adjusted(logits, labels), labels)

    def per_example(self, logits, labels):
        """c_{y_i} * l_i for every example, [n]."""
        losses = self._raw(logits, labels)
        c = self.class_weights(labels, losses.dtype)
        return losses if c is None else c * losses

    def logit_grads(self, logits, labels):
        """d (c_{y_i} l_i) / d z_i for every example, [n, C]."""
        if self.kind == "ce":
            grads = ce_logit_grads(logits, labels)
        else:
            grads = self.scale * ce_logit_grads(self._adjusted(logits, labels), labels)
        c = self.class_weights(labels, grads.dtype)
        return grads if c is None else c[:, None] * grads

    def plain_loss(self, logits, labels):
        """This replica's share of the plain step's loss (sum c l / sum c, global)."""
        losses = self._raw(logits, labels)
        c = self.class_weights(labels, losses.dtype)
        if c is None:
            return replicas.batch_mean(losses)
        return tf.reduce_sum(c * losses) / replicas.all_sum(tf.reduce_sum(c))
