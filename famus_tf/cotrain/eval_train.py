"""Per-example cross-entropy of every training example: the GMM's input (ALGORITHM.md §7
step 1, the official `eval_train`).

    l_i = CE(f(x_i; w), y~_i)   in evaluation mode (BatchNorm moving statistics), on the
                                test transform (no augmentation), for every i in the set

Batched on the accelerator; under a tf.distribute strategy each replica evaluates its
share and the results are gathered (`strategy.gather`, across workers too), so every
process gets the full vector. Every example carries its index, so the result is in
training-set order whatever the order or sharding of the batches.

Static shapes: every batch is padded to `batch_size` with copies of its first row and
index -1 (dropped), so a strategy splits every global batch evenly and the step is
traced once. Under a strategy the padded batches are cut into per-replica batches of
batch_size / replicas and shared out by `distribute_datasets_from_function` (every
input pipeline reads the whole source and keeps its shard: with file-decoding sources
each worker decodes every file; fine for the 32,000-image Clothing1M sample and
mini-WebVision's 66,000).
"""
import numpy as np
import tensorflow as tf


def _batches(data, batch_size):
    """A dataset of (images, labels, index) batches from arrays or a given batched dataset."""
    if isinstance(data, tf.data.Dataset):
        return data
    images, labels = data
    index = np.arange(len(labels), dtype=np.int64)
    return tf.data.Dataset.from_tensor_slices((images, labels, index)).batch(batch_size)


def _pad(batch_size):
    """Pads a batch to `batch_size` rows (copies of row 0; index -1)."""
    def pad(images, labels, index):
        k = batch_size - tf.shape(index)[0]

        def fill(t, value=None):
            extra = (tf.repeat(t[:1], k, axis=0) if value is None
                     else tf.fill([k], tf.constant(value, t.dtype)))
            return tf.ensure_shape(tf.concat([t, extra], 0), [batch_size] + t.shape[1:])

        return fill(images), fill(labels), fill(tf.cast(index, tf.int64), -1)
    return pad


def _loss_fn(model, preprocess):
    def losses(images, labels, index):
        logits = tf.cast(model(preprocess(images), training=False), tf.float32)
        ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(labels, tf.int64),
                                                            logits=logits)
        return ce, index
    return losses


class LossPass:
    """The per-example loss pass of one network, compiled once and reused every epoch
    (a new tf.function per call would trace the network again each epoch).

    `preprocess`: images -> the model's float inputs (the test transform). Under a
    strategy of R replicas, `batch_size` must be a multiple of R (one line otherwise).
    """

    def __init__(self, model, preprocess, batch_size=256, strategy=None):
        self.batch_size = batch_size
        self.strategy = strategy or tf.distribute.get_strategy()
        replicas = self.strategy.num_replicas_in_sync
        if batch_size % replicas:
            raise ValueError(f"--eval_batch_size={batch_size} is not a multiple of the {replicas} "
                             f"replicas (the per-example loss pass splits every batch evenly)")
        losses = _loss_fn(model, preprocess)
        if replicas == 1:
            self.step = tf.function(losses, autograph=False)
        else:
            strategy = self.strategy

            def gathered(batch):
                # one gather per tensor: strategy.gather of a tuple returned only the first
                # replica's values (TF 2.21, MirroredStrategy)
                out = strategy.run(losses, args=batch)
                return tuple(strategy.gather(v, axis=0) for v in out)
            self.step = tf.function(gathered, autograph=False)

    def _results(self, padded):
        """(losses, index) per global batch."""
        if self.strategy.num_replicas_in_sync == 1:
            return (self.step(*b) for b in padded)

        def dataset_fn(ctx):
            per_replica = ctx.get_per_replica_batch_size(self.batch_size)
            return (padded.unbatch().batch(per_replica, drop_remainder=True)
                    .shard(ctx.num_input_pipelines, ctx.input_pipeline_id))
        return (self.step(b) for b in self.strategy.distribute_datasets_from_function(dataset_fn))

    def __call__(self, data, num_examples=None):
        """Per-example CE [N] (float64, training-set order); see per_example_losses."""
        if num_examples is None and isinstance(data, tf.data.Dataset):
            raise ValueError("per_example_losses: a dataset of batches needs num_examples")
        n = len(data[1]) if num_examples is None else num_examples
        padded = _batches(data, self.batch_size).map(_pad(self.batch_size))
        out = np.full(n, np.nan)
        for ce, index in self._results(padded):
            ce, index = ce.numpy(), index.numpy()
            keep = index >= 0
            out[index[keep]] = ce[keep]
        return out


def per_example_losses(model, data, preprocess, num_examples=None, batch_size=256, strategy=None):
    """Per-example CE [N] (float64, training-set order) of `model` in evaluation mode.

    `data`: a pair of arrays (images, labels), indexed 0..N-1; or a tf.data.Dataset of
    batches (images, labels, index) of at most `batch_size` rows (then `num_examples`
    gives N). `preprocess`: images -> the model's float inputs (no augmentation: the
    caller's test transform, e.g. normalisation and a centre crop). Entries whose index
    never appears (e.g. unreadable files) are NaN (divide.split leaves them out).
    A one-off pass; a loop that evaluates every epoch keeps a LossPass.
    """
    return LossPass(model, preprocess, batch_size, strategy)(data, num_examples)
