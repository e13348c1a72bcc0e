"""What a data set's `prepare` returns, and the steps every protocol shares.

`Prepared` holds the training set with its noisy labels (and the true ones where they
are known), the clean meta set taken out of the training data before corruption (the
MW-Net protocol), and the test set. `with_meta_split` is that protocol for data sets
with clean labels; `with_holdout` holds out part of the noisy training set for choosing
settings without the test set; `existing` drops listed image files that are not on disk.
"""
import dataclasses
import os
from typing import Optional, Tuple

import numpy as np
from absl import logging

from famus_tf.data import noise as noise_lib
from famus_tf.data import splits

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
    class_names: Optional[Tuple[str, ...]] = None  # class c's name, where the data names them

    def noise_summary(self):
        """Realised noise rate and empirical transition matrix (None without true labels)."""
        if self.train_clean is None:
            return None
        return {"realised_rate": noise_lib.realised_rate(self.train_clean, self.train_labels),
                "transition": noise_lib.transition_matrix(self.train_clean, self.train_labels,
                                                          self.num_classes)}


def with_meta_split(name, num_classes, shape, mean, std, images, labels, test, data_cfg,
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


HOLDOUT, HOLDOUT_TRUE = "holdout", "holdout_true"


def with_holdout(data, fraction, seed):
    """`data` with `fraction` of its training set held out, stratified by the given (noisy)
    labels (splits.stratified_split, so round(fraction * n_c) of each given class c).

    The held-out examples leave the training set (never trained on) and become extra
    test sets, evaluated every epoch like the test set: `holdout` with the given labels
    (the accuracy a user without clean labels can measure) and, where the true labels are
    known (synthetic noise), `holdout_true` with them (for analysis). Under symmetric noise
    of rate r over C classes the first is affine in the second:
    acc_given = (1 - r - r / (C - 1)) * acc_true + r / (C - 1), so both rank settings alike
    up to sampling noise. `fraction=0` returns `data` unchanged.
    """
    if not fraction:
        return data
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"--holdout_fraction must be in [0, 1), got {fraction}")
    keep, held = splits.stratified_split(data.train_labels, fraction, seed)
    if not len(held) or not len(keep):
        raise ValueError(f"--holdout_fraction={fraction} leaves an empty training or held-out set "
                         f"({len(keep)} / {len(held)} of {len(data.train_labels)} examples)")
    extra = dict(data.extra_tests)
    extra[HOLDOUT] = (data.train_images[held], data.train_labels[held])
    clean = data.train_clean
    if clean is not None:
        extra[HOLDOUT_TRUE] = (data.train_images[held], clean[held])
    return dataclasses.replace(
        data, train_images=data.train_images[keep], train_labels=data.train_labels[keep],
        train_clean=None if clean is None else clean[keep], extra_tests=extra)


def existing(paths, labels_list, what):
    """Drops listed files that do not exist, logging how many and which."""
    ok = np.array([os.path.isfile(p) for p in paths], bool)
    if not ok.all():
        missing = paths[~ok]
        logging.warning("%s: %d listed image(s) missing, skipped: %s%s", what, len(missing),
                        ", ".join(missing[:10]), " ..." if len(missing) > 10 else "")
    return (paths[ok],) + tuple(a[ok] for a in labels_list)


def no_meta_set(paths):
    """The empty meta set of a data set without clean labels."""
    return np.zeros(0, paths.dtype), np.zeros(0, np.int64)
