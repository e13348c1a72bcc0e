"""The training run's input streams: the noisy training set and the meta set.

One function builds both, for one device or for a tf.distribute strategy:
`distribute_datasets_from_function` gives each input pipeline its shard of the same
seeded order (pipeline.train_stream / records.train_stream cut it before decoding).
The training split comes from the image arrays or files (class-balanced epochs from
data/balanced.py where the data set asks for them), or from TFRecords written by
`python -m famus_tf.data.convert` (`--records_dir`). Streams yield
(images uint8, labels, is_clean, index) and (meta images, meta labels).

`index` is each example's position in the training set (`Prepared.train_images`), the
key of the per-example weight store (train/weight_store.py). It is one more array
that travels with the images through every path: shuffled or read in a class-balanced
`order`, cut into input-pipeline shards, and past unreadable files that the decoder
skips (pipeline.train_stream); from TFRecords it is the records' `index` feature, the
same position (records.write_records is given the training paths in order).

`skip_steps` starts the streams after that many global steps: distributed iterators
cannot be checkpointed, so a resumed distributed run rebuilds them at the restored
step (the order is a function of the seed, so this is exact).
"""
import numpy as np
import tensorflow as tf

from famus_tf.data import balanced, pipeline, records


def streams(strategy, data, data_cfg, seed, epochs, with_meta, skip_steps=0):
    """(train iterator, meta iterator or None) of a run."""
    order = None
    if data.balanced_batches and not data_cfg.records_dir:  # a fresh balanced sample per epoch
        order = np.concatenate([balanced.epoch_indices(
            data.train_labels, data.balanced_batches, data_cfg.batch_size, data.num_classes, seed, e)
            for e in range(epochs)])

    def train_source(batch, shard, skip):
        if data_cfg.records_dir:
            return _records_stream(data_cfg.records_dir, data, batch, seed, shard, skip)
        return pipeline.train_stream(train_arrays(data), batch, seed,
                                     decode_size=data.decode_size, order=order, shard=shard,
                                     skip_batches=skip)

    def meta_source(batch, shard, skip):
        return pipeline.train_stream((data.meta_images, data.meta_labels), batch, seed + 1,
                                     decode_size=data.decode_size, shard=shard, skip_batches=skip)

    train = iter(_distributed(strategy, train_source, data_cfg.batch_size, skip_steps))
    if not with_meta:
        return train, None
    meta_batch = min(data_cfg.meta_batch_size, len(data.meta_labels))
    return train, iter(_distributed(strategy, meta_source, meta_batch, skip_steps))


def train_arrays(data):
    """(images or paths, labels, is_clean, index) of the training set: is_clean where the
    true labels are known (else all True), index = 0..N-1."""
    clean = (data.train_clean == data.train_labels) if data.train_clean is not None else \
        np.ones_like(data.train_labels, bool)
    index = np.arange(len(data.train_labels), dtype=np.int64)
    return data.train_images, data.train_labels, clean, index


def _records_stream(records_dir, data, batch, seed, shard, skip):
    """The training split from TFRecords (data/records.py), as (images, labels, is_clean,
    index)."""
    has_clean = "clean" in records.read_metadata(records_dir, "train")["columns"]
    balanced_spec = (data.balanced_batches, data.num_classes) if data.balanced_batches else None
    columns = ("label", "clean", "index") if has_clean else ("label", "index")
    ds = records.train_stream(records_dir, "train", batch, seed, columns=columns,
                              balanced=balanced_spec, shard=shard, skip_batches=skip)
    if has_clean:
        return ds.map(lambda x, y, c, i: (x, y, tf.equal(c, y), i))
    return ds.map(lambda x, y, i: (x, y, tf.ones_like(y, tf.bool), i))


def _distributed(strategy, make, global_batch, skip_steps=0):
    """`make(per_replica_batch, shard, skip_batches)` through
    `distribute_datasets_from_function`: each input pipeline yields per-replica batches of
    its shard of the same order, starting after `skip_steps` global steps."""
    if global_batch % strategy.num_replicas_in_sync:
        raise ValueError(f"--batch_size / --meta_batch_size: {global_batch} is not divisible by the "
                         f"{strategy.num_replicas_in_sync} replicas")

    def dataset_fn(ctx):
        per_pipeline = ctx.num_replicas_in_sync // ctx.num_input_pipelines
        return make(ctx.get_per_replica_batch_size(global_batch),
                    (ctx.num_input_pipelines, ctx.input_pipeline_id), skip_steps * per_pipeline)

    return strategy.distribute_datasets_from_function(dataset_fn)
