"""The trusted (meta) set of `MetaReweighting`: held in memory, drawn by step.

The program's meta stream is a shuffled, repeated tf.data pipeline whose iterator is
checkpointed. A Keras `fit` checkpoints weights only (`BackupAndRestore`,
`ModelCheckpoint`), so here the meta batch of step t is a pure function of t and the
seed: with N trusted examples and meta batch m, pass p = floor(t / floor(N / m)) uses the
permutation argsort(stateless_uniform([N], seed=(seed, p))) and step t takes its
positions [(t mod floor(N/m)) m, ... + m). Every pass sees each example at most once
(the last N mod m of a permutation are left out of that pass); a resumed run draws the
same batches as an uninterrupted one. Under tf.distribute each replica takes its
contiguous share of the global meta batch.
"""
import numpy as np
import tensorflow as tf

from famus_tf.meta import replicas


def as_arrays(meta_data, what="meta_data"):
    """(x, y) numpy arrays of a tf.data.Dataset of (x, y) (batched or not) or an (x, y) tuple."""
    if isinstance(meta_data, str):
        raise ValueError(f"{what}={meta_data!r} is not supported by famus_tf.keras: pass the "
                         "trusted examples as a tf.data.Dataset of (x, y) or an (x, y) tuple "
                         "(Algorithm 2's pseudo-clean set runs through python -m famus_tf.main)")
    if isinstance(meta_data, tf.data.Dataset):
        spec = meta_data.element_spec
        if not isinstance(spec, tuple) or len(spec) < 2:
            raise ValueError(f"{what}: the dataset must yield (x, y) pairs, it yields {spec}")
        batched = spec[0].shape.rank is not None and spec[1].shape.rank == 1
        xs, ys = [], []
        for element in meta_data:
            x, y = element[0].numpy(), element[1].numpy()
            xs.append(x if batched else x[None])
            ys.append(y if batched else np.reshape(y, [1]))
        if not xs:
            raise ValueError(f"{what}: the dataset is empty")
        return np.concatenate(xs), np.concatenate(ys)
    if isinstance(meta_data, (tuple, list)) and len(meta_data) == 2:
        return np.asarray(meta_data[0]), np.asarray(meta_data[1])
    raise ValueError(f"{what}: expected a tf.data.Dataset of (x, y) or an (x, y) tuple, "
                     f"got {type(meta_data).__name__}")


def check_labels(y, num_classes, what):
    """Integer labels in [0, num_classes), one per example."""
    y = np.asarray(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{what}: labels must be a vector of integer class indices, "
                         f"got shape {y.shape} dtype {y.dtype}")
    bad = (y < 0) | (y >= num_classes)
    if bad.any():
        raise ValueError(f"{what}: label {int(y[bad][0])} at position {int(np.argmax(bad))} "
                         f"is outside [0, {num_classes})")


class MetaStream:
    """Trusted examples in memory and the step -> meta batch map of the module docstring."""

    def __init__(self, meta_data, num_classes, image_shape, batch_size, seed=0):
        x, y = as_arrays(meta_data)
        check_labels(y, num_classes, "meta_data")
        missing = sorted(set(range(num_classes)) - set(np.unique(y).tolist()))
        if missing:
            raise ValueError(f"meta_data: no trusted example of class(es) {missing[:10]}; the "
                             f"meta set needs every one of the {num_classes} classes")
        if tuple(x.shape[1:]) != tuple(image_shape):
            raise ValueError(f"meta_data: examples of shape {tuple(x.shape[1:])}, the model "
                             f"takes {tuple(image_shape)}")
        if not 0 < batch_size <= len(y):
            raise ValueError(f"meta_batch_size {batch_size} must be in [1, {len(y)}] "
                             "(the number of trusted examples)")
        self.x, self.y = x, y.astype(np.int64)
        self.size, self.batch_size, self.seed = len(y), int(batch_size), int(seed)
        self.steps_per_pass = self.size // self.batch_size

    def indices(self, step):
        """[m] int indices into the trusted set of the global meta batch of `step`."""
        step = tf.cast(step, tf.int64)
        p = step // self.steps_per_pass
        perm = tf.argsort(tf.random.stateless_uniform(
            [self.size], seed=tf.stack([tf.constant(self.seed, tf.int64), p])))
        start = tf.cast((step % self.steps_per_pass) * self.batch_size, tf.int32)
        return perm[start:start + self.batch_size]

    def batch(self, step, dtype, x_const=None, y_const=None):
        """This replica's share of the meta batch of `step`: (x cast to `dtype`, y)."""
        idx = self.indices(step)
        n = replicas.num_replicas()
        if n > 1:
            per = self.batch_size // n
            idx = idx[replicas.replica_id() * per:(replicas.replica_id() + 1) * per]
        x = tf.gather(x_const if x_const is not None else self.x, idx)
        y = tf.gather(y_const if y_const is not None else self.y, idx)
        return tf.cast(x, dtype), y
