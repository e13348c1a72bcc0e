"""Released image lists: `<image path> <label>` per line (WebVision, Clothing1M, CNWL).

One parser for all of them, so that every malformed line and out-of-range label is
reported the same way: with its file and line number, before any training.
"""
import os


def read_pairs(path, num_classes, what="image list"):
    """[(image path as written, label)] of a list file."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what} {path} not found")
    pairs = []
    with open(path) as fh:
        for lineno, line in enumerate(fh, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
                raise ValueError(f"{path}:{lineno}: expected '<image path> <label>', got {line.strip()!r}")
            label = int(parts[1])
            if not 0 <= label < num_classes:
                raise ValueError(f"{path}:{lineno}: label {label} outside [0, {num_classes})")
            pairs.append((parts[0], label))
    return pairs
