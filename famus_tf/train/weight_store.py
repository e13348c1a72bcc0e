"""The running per-example store of the meta-learned weights (suspects.csv's `meta_weight`).

Every meta step gives each example i of its global batch of B examples a weight v_i
(the `example_weights` of meta/step.py: MW-Net's V(l_i; theta) normalised over the batch,
sum_j V_j or B as --normalise_weights says; L2R's rectified, normalised negative
meta-gradient, max(-dL_val/d eps_i, 0) / sum_j max(...)). The store records the
*relative* weight

    r_i = B * v_i        (1 = the uniform weight 1/B of plain training; 0 = ignored)

of each of the last M = `LAST` appearances of example i in a meta step, and reports

    meta_weight_i = mean of r_i over its last min(count_i, M) appearances,

NaN for an example that never appeared (count_i = 0). An appearance is one row of a
global batch (an example twice in one batch, where a shuffled stream's batch straddles
two passes, appears twice, in batch order). Steps that the non-finite guard skips
(--on_nonfinite=skip) do not count.

Which runs keep one (`METHODS`): MW-Net and L2R, the methods with per-example weights.
MLC has none (its meta model corrects the labels through one class-level transition
matrix T for every example), and plain training weighs uniformly, so their runs keep no
store and suspects.csv leaves the column empty. Algorithm 2 (famus_tf/cotrain/) keeps
none either: its meta step weighs MixUp-mixed rows (lambda' x_i + (1 - lambda') x_j), not
examples; suspects.csv carries the split's clean probability there instead.

State: two non-trainable variables, `values` [N, M] float32 (a ring buffer per example:
appearance k of example i goes to slot k mod M) and `counts` [N] int64 (appearances so
far), checkpointed with the run (train/checkpoint.py): 28 bytes per training example
(Clothing1M's 1M examples: 28 MB in memory and in every checkpoint). `update` writes a global batch
with two scatter ops inside the compiled multi-step loop (train/loop.py), no host
round-trip. Under tf.distribute the loop gathers every replica's indices and weights
into the global batch (meta/replicas.all_gather) and updates the store once, in the
cross-replica part of the step: the variables are plain (not mirrored) variables, one
copy per worker, and every worker writes the same global batch.
"""
import numpy as np
import tensorflow as tf

LAST = 5  # M: appearances averaged per example
METHODS = ("mwnet", "l2r")  # the methods whose step gives per-example weights


def keeps_store(method):
    """True for the methods whose steps give per-example weights (`METHODS`)."""
    return method in METHODS


class WeightStore(tf.Module):
    """The last `last` relative weights of each of `size` training examples (create it
    outside `strategy.scope()`: plain variables, see the module docstring)."""

    def __init__(self, size, last=LAST, name="meta_weight_store"):
        super().__init__(name=name)
        self.last = int(last)
        self.values = tf.Variable(tf.zeros([size, self.last], tf.float32), trainable=False,
                                  name="values")
        self.counts = tf.Variable(tf.zeros([size], tf.int64), trainable=False, name="counts")

    def update(self, index, weights, ok=True):
        """Records global-batch rows (`index` [B] into the training set, normalised weights
        `weights` [B], stored as B * weight) unless `ok` is False; returns the op."""
        index = tf.cast(index, tf.int64)
        relative = tf.cast(weights, tf.float32) * tf.cast(tf.size(weights), tf.float32)

        def write():
            same = tf.cast(tf.equal(index[:, None], index[None, :]), tf.int64)
            earlier = tf.reduce_sum(tf.linalg.band_part(same, -1, 0), axis=1) - 1
            slot = (tf.gather(self.counts, index) + earlier) % self.last
            put = self.values.scatter_nd_update(tf.stack([index, slot], axis=1), relative)
            with tf.control_dependencies([put]):
                add = self.counts.scatter_nd_add(index[:, None], tf.ones_like(index))
            with tf.control_dependencies([add]):
                return tf.constant(True)

        return tf.cond(tf.convert_to_tensor(ok), write, lambda: tf.constant(False))

    def means(self):
        """[N] float64: the mean relative weight over each example's last appearances
        (NaN: never seen)."""
        counts = self.counts.numpy()
        seen = np.minimum(counts, self.last)
        total = self.values.numpy().astype(np.float64).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(seen > 0, total / np.maximum(seen, 1), np.nan)
