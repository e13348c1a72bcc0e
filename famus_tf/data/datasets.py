"""Datasets by name, prepared for a noisy-label run.

`prepare` returns the training set with its noisy labels (and the true ones where
they are known), the clean meta set taken out of the training data before
corruption (the MW-Net protocol), and the test set. The noise is drawn by
data/noise.py, or read from a noise file so that runs compare on the same labels.
"""
import dataclasses
import os
from typing import Optional, Tuple

import numpy as np

from famus_tf.data import noise as noise_lib
from famus_tf.data import splits

DATASETS = ("digits", "cifar10", "cifar100", "cifar10n", "cifar100n", "cifar10_lt", "cifar100_lt",
            "clothing1m", "webvision", "cnwl_red", "cnwl_blue")
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@dataclasses.dataclass
class Prepared:
    name: str
    num_classes: int
    image_shape: Tuple[int, ...]
    mean: Tuple[float, ...]
    std: Tuple[float, ...]
    train_images: np.ndarray
    train_labels: np.ndarray          # noisy
    train_clean: Optional[np.ndarray]  # true labels, where known
    meta_images: np.ndarray
    meta_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    decode_size: Optional[int] = None       # images are file paths, decoded to this size
    balanced_batches: Optional[int] = None  # class-balanced epochs of this many batches
    extra_tests: dict = dataclasses.field(default_factory=dict)  # name -> (images, labels)

    def noise_summary(self):
        """Realised noise rate and empirical transition matrix (None without true labels)."""
        if self.train_clean is None:
            return None
        return {"realised_rate": noise_lib.realised_rate(self.train_clean, self.train_labels),
                "transition": noise_lib.transition_matrix(self.train_clean, self.train_labels,
                                                          self.num_classes)}


def _digits(data_cfg, noise_cfg):
    from famus_tf.data import digits
    parts = digits.load_digits_splits(seed=0)
    images, labels = parts["train"]
    return _with_meta_split("digits", digits.NUM_CLASSES, digits.IMAGE_SHAPE, digits.MEAN, digits.STD,
                            images, labels, parts["test"], data_cfg, noise_cfg)


def _with_meta_split(name, num_classes, shape, mean, std, images, labels, test, data_cfg,
                     noise_cfg, noisy=None, keep=None):
    """Meta set of N per class out of the clean training data, then (optionally) a
    long-tail subset `keep(rest_labels)` of the rest, then the noise."""
    meta_idx, rest = splits.take_per_class(labels, data_cfg.meta_per_class, seed=noise_cfg.seed)
    if keep is not None:
        rest = rest[keep(labels[rest])]
    clean = labels[rest]
    if noisy is not None:  # human noisy labels (CIFAR-N) come with the data
        noisy = noisy[rest]
    else:
        noisy = noise_lib.corrupt(clean, num_classes, noise_cfg)
    return Prepared(name, num_classes, shape, tuple(mean), tuple(std), images[rest], noisy, clean,
                    images[meta_idx], labels[meta_idx], *test)


def _cifar(data_cfg, noise_cfg):
    from famus_tf.data import cifar
    name = data_cfg.dataset
    base = name.replace("_lt", "").rstrip("n") if name.endswith("n") else name.replace("_lt", "")
    if name.endswith("n"):
        d = cifar.load_cifar_n(base, data_cfg.data_dir, data_cfg.label_set, data_cfg.source)
        images, noisy, clean = d["train"]
        return _with_meta_split(name, d["num_classes"], images.shape[1:], d["mean"], d["std"], images,
                                clean, d["test"], data_cfg, noise_cfg, noisy=noisy)
    d = cifar.load_cifar(base, data_cfg.data_dir, data_cfg.source)
    images, labels = d["train"]
    keep = None
    if name.endswith("_lt"):
        keep = lambda y: cifar.long_tailed(None, y, d["num_classes"], data_cfg.imbalance,  # noqa: E731
                                           noise_cfg.seed)
    return _with_meta_split(name, d["num_classes"], images.shape[1:], d["mean"], d["std"], images,
                            labels, d["test"], data_cfg, noise_cfg, keep=keep)


def _existing(paths, labels_list, what):
    """Drops listed files that do not exist, logging how many and which."""
    from absl import logging
    ok = np.array([os.path.isfile(p) for p in paths], bool)
    if not ok.all():
        missing = paths[~ok]
        logging.warning("%s: %d listed image(s) missing, skipped: %s%s", what, len(missing),
                        ", ".join(missing[:10]), " ..." if len(missing) > 10 else "")
    return (paths[ok],) + tuple(a[ok] for a in labels_list)


def _clothing1m(data_cfg, noise_cfg):
    """Clothing1M: noisy training list; the meta set is N per class of the training images
    that also have a clean label (the MW-Net protocol with clean data); clean test set.
    Decoded at 256x256, trained on random 224 crops (--augment=crop_flip:224)."""
    from famus_tf.data import clothing1m
    d = clothing1m.load_clothing1m(data_cfg.data_dir)
    paths, noisy, clean = _existing(*d["train"][:1], d["train"][1:], "Clothing1M train")
    known = np.flatnonzero(clean >= 0)
    meta_pos, _ = splits.take_per_class(clean[known], data_cfg.meta_per_class, seed=noise_cfg.seed)
    meta = known[meta_pos]
    rest = np.setdiff1d(np.arange(len(paths)), meta)
    test = _existing(*d["test"][:1], d["test"][1:], "Clothing1M test")
    return Prepared("clothing1m", 14, (224, 224, 3), IMAGENET_MEAN, IMAGENET_STD, paths[rest],
                    noisy[rest], None, paths[meta], clean[meta], *test, decode_size=256,
                    balanced_batches=data_cfg.num_batches)


def _webvision(data_cfg, noise_cfg):
    """mini-WebVision (50 classes), decoded at 320, trained on random-resized 299 crops
    (class-balanced epochs of `num_batches` batches when num_batches > 0),
    tested on the WebVision validation set and, where `imagenet/val/<synset>/` is present,
    on the ILSVRC12 validation images of the same classes (center 299 crops, top-1/top-5). No clean labels exist:
    the meta set of FaMUS is the pseudo-clean set of Algorithm 2 (not yet implemented)."""
    from famus_tf.data import webvision
    d = webvision.load_webvision(data_cfg.data_dir)
    paths, labels = _existing(*d["train"][:1], d["train"][1:], "WebVision train")
    test = _existing(*d["val"][:1], d["val"][1:], "WebVision val")
    empty = np.zeros(0, paths.dtype)
    extra = {}
    if len(d["imagenet_val"][1]):  # ILSVRC12 val images of the same 50 classes, if present
        extra["imagenet_val"] = d["imagenet_val"]
    return Prepared("webvision", 50, (299, 299, 3), IMAGENET_MEAN, IMAGENET_STD, paths, labels, None,
                    empty, np.zeros(0, np.int64), *test, decode_size=320, extra_tests=extra,
                    balanced_batches=data_cfg.num_batches or None)


def _cnwl(data_cfg, noise_cfg):
    """CNWL red/blue mini-ImageNet at the level `data_cfg.cnwl_level`, images decoded at
    `data_cfg.image_size` (32 as in the paper, or 84). No clean labels: plain training until
    the pseudo-clean meta set of Algorithm 2 lands."""
    from famus_tf.data import cnwl
    d = cnwl.load_cnwl(data_cfg.data_dir, data_cfg.dataset.split("_")[1], data_cfg.cnwl_level)
    paths, labels = _existing(*d["train"][:1], d["train"][1:], "CNWL train")
    test = _existing(*d["test"][:1], d["test"][1:], "CNWL validation")
    size = data_cfg.image_size
    mean, std = (0.507, 0.487, 0.441), (0.267, 0.256, 0.276)  # the official CNWL recipe
    return Prepared(data_cfg.dataset, cnwl.NUM_CLASSES, (size, size, 3), mean, std, paths, labels,
                    None, np.zeros(0, paths.dtype), np.zeros(0, np.int64), *test, decode_size=size)


def prepare(data_cfg, noise_cfg):
    """The Prepared dataset named by `data_cfg.dataset`."""
    if data_cfg.dataset == "digits":
        return _digits(data_cfg, noise_cfg)
    if data_cfg.dataset.startswith("cifar"):
        return _cifar(data_cfg, noise_cfg)
    if data_cfg.dataset == "clothing1m":
        return _clothing1m(data_cfg, noise_cfg)
    if data_cfg.dataset == "webvision":
        return _webvision(data_cfg, noise_cfg)
    if data_cfg.dataset.startswith("cnwl_"):
        return _cnwl(data_cfg, noise_cfg)
    raise ValueError(f"--dataset: unknown dataset {data_cfg.dataset!r}; known: {', '.join(DATASETS)}")
