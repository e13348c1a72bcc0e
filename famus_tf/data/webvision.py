"""mini-WebVision (the first 50 classes of the Google subset) and its ILSVRC12 val set.

Released layout under `root`:
  info/train_filelist_google.txt   `google/q0001/00000001.jpg 0` per line
  info/val_filelist.txt            `val000001.jpg 0` per line, images in val_images_256/
  info/synsets.txt                 line c: the ImageNet synset of class c (`n01440764 tench`)
ILSVRC12 validation images of the same classes are read from `imagenet_root/val/<synset>/`
(default `root/imagenet`), the layout DivideMix uses. Only labels < num_classes are kept
(mini-WebVision: 50). Malformed lines and labels outside 0..999 are reported with file
and line before any training.
"""
import glob
import os

import numpy as np

from famus_tf.data import lists


def read_list(path, prefix=""):
    """(paths, labels) of a `<relative path> <label>` list (labels of all 1000 classes)."""
    pairs = lists.read_pairs(path, 1000, "WebVision list")
    return (np.asarray([os.path.join(prefix, p) for p, _ in pairs]),
            np.asarray([c for _, c in pairs], np.int64))


def read_synsets(path, num_classes):
    if not os.path.isfile(path):
        raise FileNotFoundError(f"WebVision synset list {path} not found")
    with open(path) as fh:
        synsets = [line.split()[0] for line in fh if line.strip()]
    if len(synsets) < num_classes:
        raise ValueError(f"{path}: {len(synsets)} synsets, fewer than the {num_classes} classes")
    return synsets[:num_classes]


def load_webvision(root, num_classes=50, imagenet_root=None):
    """{'train': (paths, labels), 'val': ..., 'imagenet_val': ..., 'num_classes'}."""
    info = os.path.join(root, "info")
    out = {"num_classes": num_classes}
    for split, name, prefix in (("train", "train_filelist_google.txt", root),
                                ("val", "val_filelist.txt", os.path.join(root, "val_images_256"))):
        paths, labels = read_list(os.path.join(info, name), prefix)
        keep = labels < num_classes
        out[split] = (paths[keep], labels[keep])
    synsets = read_synsets(os.path.join(info, "synsets.txt"), num_classes)
    imagenet = os.path.join(imagenet_root or os.path.join(root, "imagenet"), "val")
    paths, labels = [], []
    for c, synset in enumerate(synsets):
        files = sorted(glob.glob(os.path.join(imagenet, synset, "*")))
        paths += files
        labels += [c] * len(files)
    out["imagenet_val"] = (np.asarray(paths), np.asarray(labels, np.int64))
    return out
