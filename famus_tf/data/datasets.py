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

DATASETS = ("digits",)


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
    meta_idx, rest_idx = splits.take_per_class(labels, data_cfg.meta_per_class, seed=noise_cfg.seed)
    clean = labels[rest_idx]
    noisy = noise_lib.corrupt(clean, digits.NUM_CLASSES, noise_cfg)
    return Prepared("digits", digits.NUM_CLASSES, digits.IMAGE_SHAPE, tuple(digits.MEAN),
                    tuple(digits.STD), images[rest_idx], noisy, clean, images[meta_idx],
                    labels[meta_idx], *parts["test"])


def prepare(data_cfg, noise_cfg):
    """The Prepared dataset named by `data_cfg.dataset`."""
    if data_cfg.dataset == "digits":
        return _digits(data_cfg, noise_cfg)
    raise ValueError(f"--dataset: unknown dataset {data_cfg.dataset!r}; known: {', '.join(DATASETS)}")
