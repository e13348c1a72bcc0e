"""Check a prepared data set before training: `python -m famus_tf.data.check --dataset=... --data_dir=...`.

Takes the data flags of famus_tf.main (flags/data.py, so --label_set, --cnwl_level,
--source, ... select the same files as in training) and every data set of the
registry (data/datasets.py): prints per-split image counts and class counts (per
class name where the data set names its classes: folder, list), the classes of train
without examples in another split (a NOTE: e.g. a class missing from trusted/), and
names every problem: a malformed list line or a label out of range (file and line,
from the loaders), every missing, unreadable or corrupt image file (decoded with
Pillow), and a named class without training images. Exits 0 when nothing is wrong, 1
otherwise, 2 on bad flags.
"""
import sys

import numpy as np
from absl import flags

from famus_tf import cli
from famus_tf.config import DataConfig
from famus_tf.data import datasets, images as images_lib
from flags import data as data_flags

CHECK = flags.FlagValues()
data_flags.define(CHECK)
flags.DEFINE_integer("max_files", 0, "Scan at most this many image files per split (0: all).",
                     lower_bound=0, flag_values=CHECK)
PROG = "famus_tf.data.check"
parse_flags = cli.flags_parser(PROG, CHECK, doc=__doc__)


def splits_of(data_cfg):
    """{split: (images or file paths, labels)} and the number of classes or the class names."""
    return datasets.get(data_cfg.dataset).check_splits(data_cfg)


def _named(classes, names):
    """'name, name, ...' (or class indices) of up to 10 classes."""
    shown = [repr(names[c]) if names else str(c) for c in classes[:10]]
    return ", ".join(shown) + (f", ... ({len(classes)} in all)" if len(classes) > 10 else "")


def _class_report(split, counts, train_counts, names, out):
    """Lines on classes without examples in `split` (and present in train); returns the
    number of problems: a named class (folder, list) without training images is one."""
    empty = np.flatnonzero(counts == 0)
    if split == "train" or train_counts is None:
        if empty.size and names and split == "train":
            out(f"  BAD train: {empty.size} class(es) without images: {_named(empty, names)}")
            return int(empty.size)
        if empty.size and counts.sum():
            out(f"  WARNING {split}: {empty.size} class(es) without examples: {_named(empty, names)}")
        return 0
    missing = np.flatnonzero((counts == 0) & (train_counts > 0))
    if missing.size and counts.sum():
        out(f"  NOTE {split}: {missing.size} class(es) of train without examples here: "
            f"{_named(missing, names)}")
    return 0


def check(dataset, data_dir=None, max_files=0, out=print, data_cfg=None):
    """Runs every check on `dataset` in `data_dir` (or as `data_cfg` selects); returns
    the number of problems found."""
    data_cfg = data_cfg or DataConfig(dataset=dataset, data_dir=data_dir)
    try:
        parts, classes = splits_of(data_cfg)
    except (ValueError, FileNotFoundError) as e:
        out(f"ERROR {e}")
        return 1
    names = None if isinstance(classes, int) else list(classes)
    num_classes = len(names) if names else classes
    problems = 0
    train_counts = np.bincount(parts["train"][1], minlength=num_classes) if "train" in parts else None
    for split, (images, labels) in parts.items():
        counts = np.bincount(labels, minlength=num_classes)
        out(f"{split}: {len(labels)} images; per class min {counts.min()} max {counts.max()}")
        if names and len(names) <= 100:
            out("  " + ", ".join(f"{n}: {k}" for n, k in zip(names, counts)))
        problems += _class_report(split, counts[:num_classes], train_counts, names, out)
        if images.dtype.kind in "US":
            todo = images[:max_files] if max_files else images
            _, bad = images_lib.scan(todo)
            for path, reason in bad:
                out(f"  BAD {split}: {path}: {reason}")
            problems += len(bad)
            out(f"  {len(todo) - len(bad)} of {len(todo)} files scanned are readable")
    out("OK" if not problems else f"{problems} problem(s)")
    return problems


def main(argv):
    if len(argv) > 1:
        sys.exit(f"{PROG}: unexpected arguments: {' '.join(argv[1:])}")
    if datasets.get(CHECK.dataset).needs_data_dir and not CHECK.data_dir:
        print(f"{PROG}: --data_dir is required for --dataset={CHECK.dataset}", file=sys.stderr)
        sys.exit(2)
    data_cfg = data_flags.config(CHECK)
    problems = check(data_cfg.dataset, data_cfg.data_dir, CHECK.max_files, data_cfg=data_cfg)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main(parse_flags(sys.argv))
