"""Datasets by name, prepared for a noisy-label run.

`prepare` returns the training set with its noisy labels (and the true ones where
they are known), the clean meta set taken out of the training data before
corruption (the MW-Net protocol), and the test set. The noise is drawn by
data/noise.py, or read from a noise file so that runs compare on the same labels.
"""
import dataclasses
from typing import Optional, Tuple

import numpy as np

from famus_tf.data import noise as noise_lib
from famus_tf.data import splits

DATASETS = ("digits", "cifar10", "cifar100", "cifar10n", "cifar100n", "cifar10_lt", "cifar100_lt")


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


def prepare(data_cfg, noise_cfg):
    """The Prepared dataset named by `data_cfg.dataset`."""
    if data_cfg.dataset == "digits":
        return _digits(data_cfg, noise_cfg)
    if data_cfg.dataset.startswith("cifar"):
        return _cifar(data_cfg, noise_cfg)
    raise ValueError(f"--dataset: unknown dataset {data_cfg.dataset!r}; known: {', '.join(DATASETS)}")
