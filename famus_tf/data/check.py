"""Check a prepared data set before training: `python -m famus_tf.data.check --dataset=... --data_dir=...`.

Prints per-split image counts and class counts, and names every problem: a malformed
list line or a label out of range (file and line, from the loaders), and every missing,
unreadable or corrupt image file (decoded with Pillow). Exits 0 when nothing is wrong,
1 otherwise.
"""
import sys

import numpy as np
from absl import flags

CHECK = flags.FlagValues()
flags.DEFINE_string("dataset", None, "clothing1m, webvision, cifar10, cifar100 or digits.",
                    flag_values=CHECK)
flags.DEFINE_string("data_dir", None, "The data set's directory.", flag_values=CHECK)
flags.DEFINE_integer("max_files", 0, "Scan at most this many image files per split (0: all).",
                     flag_values=CHECK)


def splits_of(dataset, data_dir):
    """{split: (images or file paths, labels)} and the number of classes."""
    if dataset == "clothing1m":
        from famus_tf.data import clothing1m
        d = clothing1m.load_clothing1m(data_dir)
        return {"train": d["train"][:2], "val": d["val"], "test": d["test"]}, d["num_classes"]
    if dataset == "webvision":
        from famus_tf.data import webvision
        d = webvision.load_webvision(data_dir)
        return {k: d[k] for k in ("train", "val", "imagenet_val")}, d["num_classes"]
    if dataset in ("cifar10", "cifar100"):
        from famus_tf.data import cifar
        d = cifar.load_cifar(dataset, data_dir)
        return {"train": d["train"], "test": d["test"]}, d["num_classes"]
    if dataset == "digits":
        from famus_tf.data import digits
        d = digits.load_digits_splits()
        return {"train": d["train"], "test": d["test"]}, digits.NUM_CLASSES
    raise ValueError(f"--dataset: unknown {dataset!r}")


def check(dataset, data_dir, max_files=0, out=print):
    """Runs every check; returns the number of problems found."""
    try:
        parts, num_classes = splits_of(dataset, data_dir)
    except (ValueError, FileNotFoundError) as e:
        out(f"ERROR {e}")
        return 1
    problems = 0
    for split, (images, labels) in parts.items():
        counts = np.bincount(labels, minlength=num_classes)
        out(f"{split}: {len(labels)} images; per class min {counts.min()} max {counts.max()}")
        empty = np.flatnonzero(counts[:num_classes] == 0)
        if len(labels) and empty.size:
            out(f"  WARNING {split}: {empty.size} class(es) without examples, first {empty[0]}")
        if images.dtype.kind in "US":
            from famus_tf.data import images as images_lib
            todo = images[:max_files] if max_files else images
            _, bad = images_lib.scan(todo)
            for path, reason in bad:
                out(f"  BAD {split}: {path}: {reason}")
            problems += len(bad)
            out(f"  {len(todo) - len(bad)} of {len(todo)} files scanned are readable")
    out("OK" if not problems else f"{problems} problem(s)")
    return problems


def main(argv):
    del argv
    if not CHECK.dataset or (CHECK.dataset != "digits" and not CHECK.data_dir):
        sys.exit("famus_tf.data.check: --dataset and --data_dir are required")
    sys.exit(1 if check(CHECK.dataset, CHECK.data_dir, CHECK.max_files) else 0)


if __name__ == "__main__":
    try:
        argv = CHECK(sys.argv)
    except flags.Error as e:
        sys.exit(f"famus_tf.data.check: {e}")
    main(argv)
