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

from famus_tf.data import lists, prepared

NUM_CLASSES = 50  # mini-WebVision
DECODE_SIZE, CROP = 320, 299  # stored size of the images, and the training crop


def read_list(path, prefix=""):
    """(paths, labels) of a `<relative path> <label>` list (labels of all 1000 classes)."""
    pairs = lists.read_pairs(path, 1000, "WebVision list")
    return (np.asarray([os.path.join(prefix, p) for p, _ in pairs]),
            np.asarray([c for _, c in pairs], np.int64))


def read_synsets(path, num_classes):
    if not os.path.isfile(path):
        raise FileNotFoundError(f"WebVision synset list {path} not found")
    synsets = [line.split()[0] for _, line in lists.text_lines(path, "synset lines") if line.strip()]
    if len(synsets) < num_classes:
        raise ValueError(f"{path}: {len(synsets)} synsets, fewer than the {num_classes} classes")
    return synsets[:num_classes]


def load_webvision(root, num_classes=NUM_CLASSES, imagenet_root=None):
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


def check_splits(data_cfg):
    """{split: (paths, labels)} and the number of classes."""
    d = load_webvision(data_cfg.data_dir)
    return {k: d[k] for k in ("train", "val", "imagenet_val")}, d["num_classes"]


def prepare(data_cfg, noise_cfg):
    """mini-WebVision (50 classes), decoded at 320, trained on random-resized 299 crops
    (class-balanced epochs of `num_batches` batches when num_batches > 0),
    tested on the WebVision validation set and, where `imagenet/val/<synset>/` is present,
    on the ILSVRC12 validation images of the same classes (center 299 crops, top-1/top-5).
    No clean labels exist: the meta set of FaMUS is the pseudo-clean set of Algorithm 2
    (--meta_set=pseudo_clean, famus_tf/cotrain/)."""
    del noise_cfg
    d = load_webvision(data_cfg.data_dir)
    paths, labels = prepared.existing(*d["train"][:1], d["train"][1:], "WebVision train")
    test = prepared.existing(*d["val"][:1], d["val"][1:], "WebVision val")
    extra = {}
    if len(d["imagenet_val"][1]):  # ILSVRC12 val images of the same 50 classes, if present
        extra["imagenet_val"] = d["imagenet_val"]
    return prepared.Prepared("webvision", NUM_CLASSES, (CROP, CROP, 3), prepared.IMAGENET_MEAN,
                             prepared.IMAGENET_STD, paths, labels, None, *prepared.no_meta_set(paths),
                             *test, decode_size=DECODE_SIZE, extra_tests=extra,
                             balanced_batches=data_cfg.num_batches or None)
