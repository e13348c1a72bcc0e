"""Clothing1M annotation files, as released (Xiao et al., CVPR 2015).

`root` (or `root/annotations`) holds:
  noisy_label_kv.txt        `images/0/00/xxx.jpg 3` per line: the noisy labels
  clean_label_kv.txt        the same form: the clean labels of the clean subset
  noisy_train_key_list.txt  one image path per line: the noisy training set
  clean_val_key_list.txt    the clean validation set (labels from clean_label_kv)
  clean_test_key_list.txt   the clean test set (labels from clean_label_kv)
Image paths are relative to `root`. 14 classes. Every malformed line and every label
outside 0..13 is reported with its file and line number before any training.
"""
import os

import numpy as np

from famus_tf.data import lists, prepared, splits

NUM_CLASSES = 14
DECODE_SIZE, CROP = 256, 224  # stored size of the images, and the training crop
FILES = {
    "noisy_kv": ("noisy_label_kv.txt", "image -> noisy label"),
    "clean_kv": ("clean_label_kv.txt", "image -> clean label"),
    "train": ("noisy_train_key_list.txt", "noisy training images"),
    "val": ("clean_val_key_list.txt", "clean validation images"),
    "test": ("clean_test_key_list.txt", "clean test images"),
}


def _find(root, key):
    name, what = FILES[key]
    for d in (os.path.join(root, "annotations"), root):
        if os.path.isfile(os.path.join(d, name)):
            return os.path.join(d, name)
    raise FileNotFoundError(f"Clothing1M: {name} ({what}) not found in {root} or {root}/annotations")


def read_kv(path):
    """{relative image path: label} of a kv file; errors name the file and line."""
    return dict(lists.read_pairs(path, NUM_CLASSES, "Clothing1M kv file"))


def read_keys(path, labels, what):
    """Paths of a key list and their labels from `labels`; an unlabelled key is an error."""
    keys, ys = [], []
    for lineno, line in lists.text_lines(path, "image keys, one per line"):
        key = line.strip()
        if not key:
            continue
        if key not in labels:
            raise ValueError(f"{path}:{lineno}: {key} has no label in the {what} kv file")
        keys.append(key)
        ys.append(labels[key])
    return np.asarray(keys), np.asarray(ys, np.int64)


def load_clothing1m(root):
    """{'train': (paths, noisy, clean or -1), 'val': (paths, labels), 'test': (paths, labels)}.

    Paths are absolute (joined to root). The clean label of a training image is kept
    where clean_label_kv.txt has one (so TensorBoard can split clean and noisy weights).
    """
    noisy = read_kv(_find(root, "noisy_kv"))
    clean = read_kv(_find(root, "clean_kv"))
    train_keys, train_noisy = read_keys(_find(root, "train"), noisy, "noisy")
    train_clean = np.asarray([clean.get(k, -1) for k in train_keys], np.int64)
    out = {"num_classes": NUM_CLASSES,
           "train": (np.asarray([os.path.join(root, k) for k in train_keys]), train_noisy, train_clean)}
    for split in ("val", "test"):
        keys, ys = read_keys(_find(root, split), clean, "clean")
        out[split] = (np.asarray([os.path.join(root, k) for k in keys]), ys)
    return out


def check_splits(data_cfg):
    """{split: (paths, labels)} (noisy labels for train) and the number of classes."""
    d = load_clothing1m(data_cfg.data_dir)
    return {"train": d["train"][:2], "val": d["val"], "test": d["test"]}, d["num_classes"]


def prepare(data_cfg, noise_cfg):
    """Clothing1M: noisy training list; the meta set is N per class of the training images
    that also have a clean label (the MW-Net protocol with clean data); clean test set.
    Decoded at 256x256, trained on random 224 crops (--augment=crop_flip:224)."""
    d = load_clothing1m(data_cfg.data_dir)
    paths, noisy, clean = prepared.existing(*d["train"][:1], d["train"][1:], "Clothing1M train")
    known = np.flatnonzero(clean >= 0)
    meta_pos, _ = splits.take_per_class(clean[known], data_cfg.meta_per_class, seed=noise_cfg.seed)
    meta = known[meta_pos]
    rest = np.setdiff1d(np.arange(len(paths)), meta)
    test = prepared.existing(*d["test"][:1], d["test"][1:], "Clothing1M test")
    return prepared.Prepared("clothing1m", NUM_CLASSES, (CROP, CROP, 3), prepared.IMAGENET_MEAN,
                             prepared.IMAGENET_STD, paths[rest], noisy[rest], None, paths[meta],
                             clean[meta], *test, decode_size=DECODE_SIZE,
                             balanced_batches=data_cfg.num_batches)
