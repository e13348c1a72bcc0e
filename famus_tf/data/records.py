"""A prepared image-file split as sharded TFRecords, decoded once, and its readers.

Format of `output_dir` for a split (train, meta, test, ...):
  {split}-{k:05d}-of-{n:05d}.tfrecord  `tf.train.Example`s, round-robin over the n shards
      (record r of the split is in shard r % n, so reading the shards interleaved with
      block length 1 gives back the written order). Features:
        image  bytes  the file decoded by images.decode at size x size, re-encoded as JPEG
        index  int64  the image's position in the `paths` given to write_records
        <col>  int64  one per column (label, clean, ...)
  {split}.json  count, size, quality, columns, num_shards, files (the shard names),
      num_paths (len(paths)) and failed: [{path, reason}] for every missing or corrupt
      file (counted, logged by name, skipped).
  {split}-columns.npz  index and every column of the written records, in written order,
      so that balanced reading knows the labels without reading an image.
"""
import concurrent.futures
import json
import math
import os
import re

import numpy as np
import tensorflow as tf

from famus_tf.data import balanced as balanced_lib
from famus_tf.data import images


def _encode(path, size, quality):
    """(JPEG bytes, None) or (None, reason) for one file; never raises."""
    if not os.path.isfile(path):
        return None, "missing"
    try:
        data = tf.io.read_file(path)
        reason = images.unreadable_reason(data).numpy().decode()
        if reason:  # found without decoding (libjpeg would print its own unnamed line)
            return None, f"corrupt: {reason}"
        image = images.decode_bytes(data, size)
        return tf.io.encode_jpeg(image, quality=quality).numpy(), None
    except (tf.errors.OpError, ValueError) as e:  # the message without TF's op decorations
        msg = re.sub(r"\{\{[^}]*\}\}\s*|\s*\[Op:.*", "", str(e)).strip().splitlines()[0][:200]
        return None, f"corrupt: {type(e).__name__}: {msg}"


def write_records(paths, columns, output_dir, split, size, num_shards=None, quality=95,
                  log=print, workers=8):
    """Decodes `paths` at size x size and writes the split's shards and metadata.

    `columns`: {name: int64 array, one value per path}. `num_shards` None: about 5000
    images per shard. Files are decoded by `workers` threads (eager TF releases the GIL);
    a missing or corrupt file is logged by name and skipped. Returns the metadata dict.
    """
    paths = np.asarray(paths).astype(str)
    columns = {k: np.asarray(v, np.int64) for k, v in columns.items()}
    for name, values in columns.items():
        if name in ("image", "index") or values.shape != paths.shape:
            raise ValueError(f"column {name!r}: reserved name or not one value per path")
    n = int(num_shards or max(1, math.ceil(len(paths) / 5000)))
    os.makedirs(output_dir, exist_ok=True)
    names = [f"{split}-{k:05d}-of-{n:05d}.tfrecord" for k in range(n)]
    writers = [tf.io.TFRecordWriter(os.path.join(output_dir, f + ".tmp")) for f in names]
    failed, written = [], {k: [] for k in ["index", *columns]}
    int64 = lambda v: tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v)]))  # noqa: E731
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        for start in range(0, len(paths), 4096):  # in chunks: bounded memory
            chunk = pool.map(lambda p: _encode(p, size, quality), paths[start:start + 4096])
            for i, (data, reason) in enumerate(chunk, start):
                if data is None:
                    failed.append({"path": paths[i], "reason": reason})
                    log(f"{split}: skipped {paths[i]}: {reason}")
                    continue
                feats = {k: int64(i if k == "index" else columns[k][i]) for k in written}
                feats["image"] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[data]))
                example = tf.train.Example(features=tf.train.Features(feature=feats))
                writers[len(written["index"]) % n].write(example.SerializeToString())
                for k in written:
                    written[k].append(feats[k].int64_list.value[0])
            log(f"{split}: {min(start + 4096, len(paths))} of {len(paths)} files done")
    for w, f in zip(writers, names):
        w.close()
        os.replace(os.path.join(output_dir, f + ".tmp"), os.path.join(output_dir, f))
    np.savez(os.path.join(output_dir, f"{split}-columns.npz"),
             **{k: np.asarray(v, np.int64) for k, v in written.items()})
    meta = {"split": split, "count": len(written["index"]), "size": int(size),
            "quality": int(quality), "columns": sorted(columns), "num_shards": n,
            "files": names, "num_paths": len(paths), "failed": failed}
    with open(os.path.join(output_dir, f"{split}.json"), "w") as fh:
        json.dump(meta, fh, indent=1)
    log(f"{split}: wrote {meta['count']} of {len(paths)} images to {n} shard(s) in "
        f"{output_dir}; {len(failed)} missing or corrupt file(s) skipped")
    return meta


def read_metadata(output_dir, split):
    """The split's metadata dict; FileNotFoundError naming the directory if incomplete."""
    path = os.path.join(output_dir, f"{split}.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no TFRecord split {split!r} in {output_dir}: {split}.json not "
                                "found (write it with python -m famus_tf.data.convert)")
    with open(path) as fh:
        meta = json.load(fh)
    missing = [f for f in meta["files"] + [f"{split}-columns.npz"]
               if not os.path.isfile(os.path.join(output_dir, f))]
    if missing:
        raise FileNotFoundError(f"TFRecord split {split!r} in {output_dir} is incomplete: "
                                f"{len(missing)} file(s) missing, first {missing[0]}")
    return meta


def _parser(meta, decode=True):
    """Serialized record -> dict of its features (the image decoded to uint8 if `decode`)."""
    spec = {k: tf.io.FixedLenFeature([], tf.int64) for k in ["index", *meta["columns"]]}
    spec["image"] = tf.io.FixedLenFeature([], tf.string)

    def parse(serialized):
        ex = tf.io.parse_single_example(serialized, spec)
        if decode:
            ex["image"] = _decode(ex["image"], meta["size"])
        return ex
    return parse


def _decode(data, size):
    return tf.ensure_shape(tf.io.decode_jpeg(data, channels=3), [size, size, 3])


def _interleaved(output_dir, meta, files=None):
    """The shards' serialized records; with `files` None, in written order."""
    if files is None:
        files = tf.data.Dataset.from_tensor_slices(
            [os.path.join(output_dir, f) for f in meta["files"]])
    return files.interleave(tf.data.TFRecordDataset, cycle_length=meta["num_shards"],
                            block_length=1, num_parallel_calls=tf.data.AUTOTUNE,
                            deterministic=True)


def read_records(output_dir, split):
    """(tf.data of dicts {image: uint8 [size, size, 3], index, <columns>: int64} in written
    order, metadata dict)."""
    meta = read_metadata(output_dir, split)
    return _interleaved(output_dir, meta).map(_parser(meta), num_parallel_calls=tf.data.AUTOTUNE,
                                              deterministic=True), meta


def written_columns(output_dir, split):
    """{index, <columns>: int64 array} of the written records, in written order."""
    read_metadata(output_dir, split)
    with np.load(os.path.join(output_dir, f"{split}-columns.npz"), allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def train_stream(output_dir, split, batch_size, seed, columns=("label",), balanced=None,
                 shuffle_buffer=2048, shard=(1, 0), skip_batches=0):
    """Endless batches (uint8 images, *columns) of a split, drop_remainder, prefetched.

    Plain: shards in a seeded order reshuffled every pass, read interleaved in parallel,
    then a seeded buffer of `shuffle_buffer` records (saved in iterator checkpoints). `balanced=(num_batches, num_classes)`: epoch e
    holds exactly the records balanced.epoch_indices(labels, num_batches, batch_size,
    num_classes, seed, e) picks (labels from the {split}-columns.npz, in written order):
    one pass over the shards per epoch keeps the records whose `index` is in that
    epoch's set (a boolean mask over `index`, computed on the host from (seed, epoch)
    alone), then the shuffle buffer. num_batches * batch_size records make an epoch, so
    batches never straddle two epochs. `shard` and `skip_batches`: as in
    pipeline.train_stream (input pipelines of tf.distribute; resuming without a saved
    iterator), applied before the images are decoded.
    """
    meta = read_metadata(output_dir, split)
    unknown = [c for c in list(columns) + ["label"] * bool(balanced)
               if c not in meta["columns"] + ["index"]]
    if unknown:
        raise ValueError(f"TFRecord split {split!r} has no column {unknown[0]!r}; it has "
                         f"{', '.join(meta['columns'])}")
    if batch_size > meta["count"]:
        raise ValueError(f"batch size {batch_size} is larger than the {meta['count']} examples")
    paths = [os.path.join(output_dir, f) for f in meta["files"]]
    parse = _parser(meta, decode=False)
    if balanced is None:
        files = tf.data.Dataset.from_tensor_slices(paths).shuffle(len(paths), seed=seed).repeat()
        ds = _interleaved(output_dir, meta, files).shuffle(shuffle_buffer, seed=seed)
        ds = ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    else:
        num_batches, num_classes = balanced
        cols = written_columns(output_dir, split)

        def plan(epoch):  # (mask over `index` of the records epoch_indices picks, shard order)
            chosen = balanced_lib.epoch_indices(cols["label"], num_batches, batch_size,
                                                num_classes, seed, int(epoch))
            order = np.random.default_rng([seed, int(epoch), 1]).permutation(len(paths))
            return (np.isin(np.arange(meta["num_paths"]), cols["index"][chosen]),
                    order.astype(np.int64))

        def epoch_records(epoch):
            # Seeds of tf.data ops must be Python values (a tensor seed breaks under a global
            # seed): the per-epoch randomness comes from `plan`, the buffer's seed is fixed.
            keep, order = tf.numpy_function(plan, [epoch], (tf.bool, tf.int64), stateful=False)
            keep = tf.ensure_shape(keep, [meta["num_paths"]])
            files = tf.data.Dataset.from_tensor_slices(tf.gather(tf.constant(paths), order))
            recs = _interleaved(output_dir, meta, files).map(parse)
            recs = recs.filter(lambda ex: tf.gather(keep, ex["index"]))
            return recs.shuffle(shuffle_buffer, seed=seed * 1_000_003 + 7)

        ds = tf.data.Dataset.range(1 << 62).flat_map(epoch_records)
        options = tf.data.Options()  # the mask is a pure function of the epoch: recomputing
        # it after an iterator restore is exact, so checkpoints may leave the py function out
        options.experimental_external_state_policy = tf.data.experimental.ExternalStatePolicy.IGNORE
        ds = ds.with_options(options)
    if shard[0] > 1 or skip_batches:
        ds = ds.batch(batch_size, drop_remainder=True).shard(*shard).skip(skip_batches).unbatch()
    ds = ds.map(lambda ex: (_decode(ex["image"], meta["size"]),) + tuple(ex[c] for c in columns),
                num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def check_labels(output_dir, split, labels):
    """Raises ValueError unless the split's records carry `labels` (the prepared split's
    labels, indexed by the written `index`): records converted with other data flags
    (meta set size, noise seed) would silently train on another split."""
    cols = written_columns(output_dir, split)
    index = cols["index"]
    if len(index) and (index.max() >= len(labels) or np.any(cols["label"] != np.asarray(labels)[index])):
        raise ValueError(f"the {split!r} records in {output_dir} do not match the prepared data "
                         "(written with other --meta_per_class / --noise_seed / data files?); "
                         "convert again with the training run's data flags")
    return len(index)
