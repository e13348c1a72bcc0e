"""Convert a prepared image-file data set to sharded TFRecords, once:

  python -m famus_tf.data.convert --dataset=clothing1m --data_dir=data/clothing1m \
      --output_dir=data/clothing1m_records [--num_shards=N] [--meta_per_class=500]

Takes the data and noise flags of famus_tf.main (flags/data.py, flags/noise.py: the
meta split depends on --meta_per_class and --noise_seed, so use the values of the
training run), runs the registry's prepare (data/datasets.py) and writes, at the data
set's decode size, the splits train (columns label, and clean where true labels are
known), meta (when non-empty), test and any extra test sets (WebVision: imagenet_val)
with data/records.py. Every missing or corrupt image is named and skipped. The
registry says which data sets convert (the image-file ones; the others are arrays in
memory). Exits 2 with one message naming the flag on bad flags or a missing --data_dir.
"""
import os
import sys

from absl import flags

from famus_tf import cli
from famus_tf.data import datasets, records
from flags import data as data_flags, noise as noise_flags

CONVERT = flags.FlagValues()
data_flags.define(CONVERT)
noise_flags.define(CONVERT)
flags.DEFINE_string("output_dir", None, "Where the TFRecord shards and metadata go.",
                    flag_values=CONVERT)
flags.DEFINE_integer("num_shards", 0, "Shards per split (0: about 5000 images per shard).",
                     flag_values=CONVERT)
flags.DEFINE_integer("quality", 95, "JPEG quality of the stored images (1..100).",
                     flag_values=CONVERT)

PROG = "famus_tf.data.convert"


parse_flags = cli.flags_parser(PROG, CONVERT, doc=__doc__)


def fail(message):
    cli.fail(PROG, message)


def validate(f):
    """The first problem with the flags, naming the flag, or None."""
    if f.dataset not in datasets.CONVERTIBLE:
        return (f"--dataset={f.dataset} is not an image-file data set; converted are "
                f"{', '.join(datasets.CONVERTIBLE)}")
    if not f.data_dir:
        return "--data_dir is required"
    if not os.path.isdir(f.data_dir):
        return f"--data_dir={f.data_dir}: no such directory"
    if not f.output_dir:
        return "--output_dir is required"
    if cli.unwritable_dir(f.output_dir, "--output_dir"):
        return cli.unwritable_dir(f.output_dir, "--output_dir")
    if f.num_shards < 0:
        return f"--num_shards must be >= 0, got {f.num_shards}"
    if not 1 <= f.quality <= 100:
        return f"--quality must be in 1..100, got {f.quality}"
    return None


def convert(data_cfg, noise_cfg, output_dir, num_shards=0, quality=95, log=print):
    """Prepares the data set of `data_cfg` and writes its splits; returns {split: metadata}."""
    data = datasets.prepare(data_cfg, noise_cfg)
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
        written = convert(data_flags.config(CONVERT), noise_flags.config(CONVERT),
                          CONVERT.output_dir, CONVERT.num_shards, CONVERT.quality)
    except (ValueError, FileNotFoundError) as e:  # the loaders name the file and line
        fail(f"--data_dir={CONVERT.data_dir} (--dataset={CONVERT.dataset}): {e}")
    for split, meta in written.items():
        print(f"{split}: {meta['count']} images, {len(meta['failed'])} skipped")


if __name__ == "__main__":
    main(parse_flags(sys.argv))
