"""Convert a prepared image-file data set to sharded TFRecords, once:

  python -m famus_tf.data.convert --dataset=clothing1m --data_dir=data/clothing1m \
      --output_dir=data/clothing1m_records [--num_shards=N] [--meta_per_class=500]

Runs datasets.prepare with the given data flags (the meta split depends on
--meta_per_class and --noise_seed, so use the values of the training run) and writes,
at the data set's decode size, the splits train (columns label, and clean where true
labels are known), meta (when non-empty), test and any extra test sets (WebVision:
imagenet_val) with data/records.py. Every missing or corrupt image is named and skipped.
Exits 2 with one message naming the flag on bad flags or a missing --data_dir.
"""
import os
import sys

from absl import flags

DATASETS = ("clothing1m", "webvision", "cnwl_red", "cnwl_blue")
CONVERT = flags.FlagValues()
flags.DEFINE_string("dataset", None, f"One of {', '.join(DATASETS)}.", flag_values=CONVERT)
flags.DEFINE_string("data_dir", None, "The data set's directory.", flag_values=CONVERT)
flags.DEFINE_string("output_dir", None, "Where the TFRecord shards and metadata go.",
                    flag_values=CONVERT)
flags.DEFINE_integer("num_shards", 0, "Shards per split (0: about 5000 images per shard).",
                     flag_values=CONVERT)
flags.DEFINE_integer("quality", 95, "JPEG quality of the stored images (1..100).",
                     flag_values=CONVERT)
flags.DEFINE_float("cnwl_level", 0.4, "CNWL: noise level of the split file.", flag_values=CONVERT)
flags.DEFINE_integer("image_size", 32, "CNWL: decoded image size (32 or 84).", flag_values=CONVERT)
flags.DEFINE_integer("meta_per_class", 10, "Clean meta examples per class (as in training).",
                     flag_values=CONVERT)
flags.DEFINE_integer("noise_seed", 0, "Seed of the meta-set split (as in training).",
                     flag_values=CONVERT)

PROG = "famus_tf.data.convert"


def fail(message):
    print(f"{PROG}: {message}", file=sys.stderr)
    sys.exit(2)


def validate(f):
    """The first problem with the flags, naming the flag, or None."""
    if f.dataset not in DATASETS:
        return f"--dataset must be one of {', '.join(DATASETS)}, got {f.dataset!r}"
    if not f.data_dir:
        return "--data_dir is required"
    if not os.path.isdir(f.data_dir):
        return f"--data_dir={f.data_dir}: no such directory"
    if not f.output_dir:
        return "--output_dir is required"
    if f.num_shards < 0:
        return f"--num_shards must be >= 0, got {f.num_shards}"
    if not 1 <= f.quality <= 100:
        return f"--quality must be in 1..100, got {f.quality}"
    if f.dataset.startswith("cnwl_"):
        from famus_tf.data.cnwl import LEVELS
        if f.cnwl_level not in LEVELS:
            return f"--cnwl_level must be one of {', '.join(map(str, LEVELS))}, got {f.cnwl_level}"
    if f.image_size <= 0 or f.meta_per_class < 0:
        return "--image_size must be > 0 and --meta_per_class >= 0"
    return None


def convert(dataset, data_dir, output_dir, num_shards=0, quality=95, log=print, **data_kwargs):
    """Prepares `dataset` and writes its splits; returns {split: metadata}."""
    from famus_tf.config import DataConfig
    from famus_tf.data import datasets, records
    from famus_tf.data.noise import NoiseConfig
    noise_seed = data_kwargs.pop("noise_seed", 0)
    data = datasets.prepare(DataConfig(dataset=dataset, data_dir=data_dir, **data_kwargs),
                            NoiseConfig(seed=noise_seed))
    train_cols = {"label": data.train_labels}
    if data.train_clean is not None:
        train_cols["clean"] = data.train_clean
    splits = [("train", data.train_images, train_cols)]
    if len(data.meta_labels):
        splits.append(("meta", data.meta_images, {"label": data.meta_labels}))
    splits.append(("test", data.test_images, {"label": data.test_labels}))
    splits += [(name, imgs, {"label": labels}) for name, (imgs, labels) in data.extra_tests.items()]
    return {split: records.write_records(paths, cols, output_dir, split, data.decode_size,
                                         num_shards=num_shards or None, quality=quality, log=log)
            for split, paths, cols in splits}


def main(argv):
    if len(argv) > 1:
        fail(f"unexpected arguments: {' '.join(argv[1:])}")
    problem = validate(CONVERT)
    if problem:
        fail(problem)
    try:
        written = convert(CONVERT.dataset, CONVERT.data_dir, CONVERT.output_dir,
                          CONVERT.num_shards, CONVERT.quality, cnwl_level=CONVERT.cnwl_level,
                          image_size=CONVERT.image_size, meta_per_class=CONVERT.meta_per_class,
                          noise_seed=CONVERT.noise_seed)
    except (ValueError, FileNotFoundError) as e:  # the loaders name the file and line
        fail(f"--data_dir={CONVERT.data_dir} (--dataset={CONVERT.dataset}): {e}")
    for split, meta in written.items():
        print(f"{split}: {meta['count']} images, {len(meta['failed'])} skipped")


if __name__ == "__main__":
    try:
        args = CONVERT(sys.argv)
    except flags.Error as e:
        fail(str(e))
    main(args)
