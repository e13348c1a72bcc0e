"""CNWL: Controlled Noisy Web Labels, red (web) and blue (synthetic) mini-ImageNet.

Released layout under `root` (the split files of the CNWL release with the images of
mini-ImageNet and the web images together in one directory):
  split/{red,blue}_noise_nl_{0.0,0.2,0.4,0.6,0.8}   `<image file> <label>` per line
  split/clean_validation                            `<image file> <label>` per line
  all_images/<image file>                           training images
  validation/<label>/<image file>                   validation (test) images
100 classes. The FaMUS paper trains on the images downsampled to 32x32 (`size=32`);
`size=84` keeps mini-ImageNet's resolution. Malformed lines and labels outside 0..99 are
reported with file and line.
"""
import os

import numpy as np

from famus_tf.data import lists, prepared

NUM_CLASSES = 100
LEVELS = (0.0, 0.2, 0.4, 0.6, 0.8)
MEAN, STD = (0.507, 0.487, 0.441), (0.267, 0.256, 0.276)  # the official CNWL recipe


def _read(path, image_dir):
    pairs = lists.read_pairs(path, NUM_CLASSES, "CNWL split file")
    return (np.asarray([image_dir(f, c) for f, c in pairs]),
            np.asarray([c for _, c in pairs], np.int64))


def load_cnwl(root, color="red", level=0.4):
    """{'train': (paths, labels), 'test': (paths, labels), 'num_classes': 100}."""
    if color not in ("red", "blue"):
        raise ValueError(f"CNWL color must be red or blue, got {color!r}")
    if float(level) not in LEVELS:
        raise ValueError(f"CNWL noise level must be one of {LEVELS}, got {level}")
    split = os.path.join(root, "split")
    train = _read(os.path.join(split, f"{color}_noise_nl_{float(level):.1f}"),
                  lambda f, _: os.path.join(root, "all_images", f))
    test = _read(os.path.join(split, "clean_validation"),
                 lambda f, c: os.path.join(root, "validation", str(c), f))
    return {"train": train, "test": test, "num_classes": NUM_CLASSES}


def check_splits(color, data_cfg):
    """{split: (paths, labels)} at --cnwl_level, and the number of classes."""
    d = load_cnwl(data_cfg.data_dir, color, data_cfg.cnwl_level)
    return {"train": d["train"], "test": d["test"]}, d["num_classes"]


def prepare(color, data_cfg, noise_cfg):
    """CNWL `color` mini-ImageNet at the level `data_cfg.cnwl_level`, images decoded at
    `data_cfg.image_size` (32 as in the paper, or 84). No clean labels: plain training until
    the pseudo-clean meta set of Algorithm 2 lands."""
    del noise_cfg
    d = load_cnwl(data_cfg.data_dir, color, data_cfg.cnwl_level)
    paths, labels = prepared.existing(*d["train"][:1], d["train"][1:], "CNWL train")
    test = prepared.existing(*d["test"][:1], d["test"][1:], "CNWL validation")
    size = data_cfg.image_size
    return prepared.Prepared(data_cfg.dataset, NUM_CLASSES, (size, size, 3), MEAN, STD, paths,
                             labels, None, *prepared.no_meta_set(paths), *test, decode_size=size)
