"""The per-epoch input streams of Algorithm 2 (ALGORITHM.md §8), for one network.

Warm-up epochs: one stream of 2B noisy examples per step per network (the official
warm-up batch), in an order drawn from (seed, epoch, network).
Co-training epochs: three streams per network, from the split it trains on (made by the
other network's GMM, divide.co_divide):

  labeled    B per step    the labeled set L
  unlabeled  B per step    the unlabeled set U
  meta       2B per step   the pseudo-clean meta set M (the official meta batch)

Every element is (image uint8, noisy label, clean probability c, truly clean), the last
for the weight summaries only (all True where the truth is unknown). Iterations per
epoch = max(|L|, |U|) // B over both networks (so both step together; the official code
runs each network for its own max(|L|, |U|) // B); the shorter streams and the meta
stream cycle: each is a concatenation of fresh permutations of its set, drawn from
np.random.default_rng([seed, epoch, network, stream]), cut to the epoch's length.
The orders are functions of (seed, epoch, network) and the checkpointed split, so a
resumed epoch rebuilds them and skips the batches already consumed
(pipeline.train_stream(order=..., skip_batches=...)); under tf.distribute each input
pipeline keeps its shard of the same order (inputs._distributed).
"""
import numpy as np
import tensorflow as tf

from famus_tf.data import augment, balanced, pipeline
from famus_tf.data import images as images_lib
from famus_tf.train import inputs

WARMUP, LABELED, UNLABELED, META = 0, 1, 2, 3


def cycle_order(indices, length, seed):
    """`length` indices: successive random permutations of `indices`, concatenated."""
    indices = np.asarray(indices, np.int64)
    if not len(indices):
        raise ValueError("cycle_order: an empty set cannot fill a stream")
    rng = np.random.default_rng(seed)
    reps = -(-length // len(indices))
    return np.concatenate([rng.permutation(indices) for _ in range(reps)])[:length]


def warmup_steps(data, batch_size):
    """Warm-up steps per epoch: the class-balanced batches of the data set, or N // 2B."""
    return data.balanced_batches or len(data.train_labels) // (2 * batch_size)


def epoch_sample(data, data_cfg, seed, epoch, batch_size):
    """The examples an epoch draws from: all of them, or (class-balanced data sets) the
    epoch's class-balanced sample of balanced_batches * batch_size (data/balanced.py)."""
    if not data.balanced_batches:
        return np.arange(len(data.train_labels), dtype=np.int64)
    return np.sort(balanced.epoch_indices(data.train_labels, data.balanced_batches, batch_size,
                                          data.num_classes, seed, epoch))


class Streams:
    """Builds the streams of a run over its (constant) images and labels."""

    def __init__(self, strategy, data, data_cfg, seed, truth):
        self.strategy, self.data, self.cfg, self.seed = strategy, data, data_cfg, seed
        self.truth = truth  # [N] bool, truly clean (all True when unknown)

    def _stream(self, arrays, order, batch, skip):
        # An epoch's stream ends with the epoch; image files stay endless, since a file that
        # fails to decode is skipped and the epoch then needs one more. No autotuning: the
        # epoch's iterators are deleted at its end (pipeline.without_autotune).
        def make(per_replica, shard, skip_batches):
            return pipeline.without_autotune(pipeline.train_stream(
                arrays, per_replica, self.seed, order=order, decode_size=self.data.decode_size,
                shard=shard, skip_batches=skip_batches, repeat=bool(self.data.decode_size)))
        return iter(inputs._distributed(self.strategy, make, batch, skip))

    def warmup(self, epoch, network, steps, skip):
        """(images, labels) batches of 2B for network `network` in warm-up epoch `epoch`."""
        b = 2 * self.cfg.batch_size
        pool = epoch_sample(self.data, self.cfg, self.seed, epoch, b)
        order = cycle_order(pool, steps * b, [self.seed, epoch, network, WARMUP])
        return self._stream((self.data.train_images, self.data.train_labels), order, b, skip)

    def cotrain(self, epoch, network, split, steps, skip, with_meta):
        """(labeled, unlabeled, meta or None) iterators for network `network` trained on
        `split` (the other network's), each of (images, labels, clean_prob, is_clean)."""
        d, b = self.data, self.cfg.batch_size
        arrays = (d.train_images, d.train_labels, split.clean_prob.astype(np.float32), self.truth)
        parts = [(split.labeled_indices, b, LABELED), (split.unlabeled_indices, b, UNLABELED)]
        if with_meta:
            parts.append((split.meta_indices, self.cfg.meta_batch_size, META))
        its = [self._stream(arrays, cycle_order(idx, steps * size, [self.seed, epoch, network, s]),
                            size, skip) for idx, size, s in parts]
        return tuple(its) + ((None,) if not with_meta else ())


def split_input(data, data_cfg, seed, epoch):
    """(dataset of (images, labels, index) batches, number of examples) that the epoch's
    split evaluates: every training example, or the epoch's class-balanced sample (the
    others get a NaN loss and belong to no set). Image files are decoded (unreadable
    ones skipped, hence NaN too)."""
    idx = epoch_sample(data, data_cfg, seed, epoch, data_cfg.batch_size)
    ds = tf.data.Dataset.from_tensor_slices((data.train_images[idx], data.train_labels[idx], idx))
    if data.decode_size:
        ds = images_lib.decode_or_skip(ds, data.decode_size, "split evaluation")
    return pipeline.without_autotune(ds.batch(data_cfg.eval_batch_size).prefetch(1)), len(idx)


def eval_preprocess(data, dtype):
    """The test transform of the split's evaluation: centre crop of decoded files to the
    network's input (as train/evaluate.py), normalisation; no augmentation."""
    crop = data.image_shape[0] if data.decode_size else None

    def prep(x):
        if crop:
            x = augment.center_crop(x, crop)
        return pipeline.preprocess(x, data.mean, data.std, dtype)
    return prep
