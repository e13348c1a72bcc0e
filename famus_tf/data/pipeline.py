"""tf.data pipelines over in-memory arrays, and the on-device preprocessing.

Images stay uint8 in the pipeline (4x less host memory and transfer than floats);
`preprocess` turns them into normalised floats inside the compiled step, on the
accelerator. Training and meta streams repeat forever with fixed batch shapes
(`drop_remainder=True`, so the step never retraces); their shuffling is seeded, and
their iterators are checkpointed with the rest of the run.
"""
import tensorflow as tf

from famus_tf.data import images as images_lib


def train_stream(arrays, batch_size, seed, shuffle_buffer=None, decode_size=None, order=None,
                 shard=(1, 0), skip_batches=0, repeat=True):
    """Endless shuffled batches of a tuple of arrays (images or image paths, labels, ...).

    `shard=(num_pipelines, index)`: the stream of one of several input pipelines
    (tf.distribute's InputContext). Every pipeline draws the same order and keeps every
    num_pipelines-th chunk of batch_size examples, so that the global batch of a
    distributed step is the batch a single device would read (before decoding, so
    each worker decodes only its own files). `skip_batches`: start after this many of
    this pipeline's batches (resuming where a checkpointed iterator cannot be saved:
    the order is a function of the seed, so skipping replays it exactly).

    `order`: a precomputed sequence of indices (e.g. class-balanced epochs, see
    data/balanced.py) read in order instead of shuffling; with `repeat=False` the stream
    ends after it (a stream made for one epoch). `decode_size`: the first
    array holds file paths, decoded to uint8 [size, size, 3]; a file that fails to
    decode is skipped, named and counted (images.decode_or_skip; missing files are
    dropped and named at start-up, this is the second guard).
    """
    n = len(arrays[0])
    if batch_size > n:
        raise ValueError(f"batch size {batch_size} is larger than the {n} examples")
    if order is None:
        ds = tf.data.Dataset.from_tensor_slices(tuple(arrays))
        ds = ds.shuffle(shuffle_buffer or n, seed=seed, reshuffle_each_iteration=True).repeat()
    else:
        table = tuple(tf.constant(a) for a in arrays)
        ds = tf.data.Dataset.from_tensor_slices(order)
        ds = ds.repeat() if repeat else ds
        ds = ds.map(lambda i: tuple(tf.gather(t, i) for t in table))
    if shard[0] > 1 or skip_batches:
        ds = ds.batch(batch_size, drop_remainder=True).shard(*shard).skip(skip_batches).unbatch()
    if decode_size:
        ds = images_lib.decode_or_skip(ds, decode_size, "training stream")
    return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def without_autotune(ds):
    """`ds` without tf.data's autotuning, for the datasets made anew every epoch: an
    autotuned iterator owns a model thread that its deletion waits for, which took 20-70 s
    per epoch on a loaded 2-core CPU (measured in Algorithm 2's loop: the main thread
    blocked in RootDataset::Iterator's destructor)."""
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.with_options(options)


def eval_stream(arrays, batch_size, decode_size=None):
    """One ordered pass over the arrays (or decoded files, unreadable ones skipped and
    named), last batch kept."""
    ds = tf.data.Dataset.from_tensor_slices(tuple(arrays))
    if decode_size:
        ds = images_lib.decode_or_skip(ds, decode_size, "evaluation")
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def preprocess(images, mean, std, dtype):
    """uint8 [N, H, W, C] -> (x / 255 - mean) / std in `dtype` (per-channel mean, std)."""
    x = tf.cast(images, dtype) / 255.0
    return (x - tf.constant(mean, dtype)) / tf.constant(std, dtype)
