"""The embedded data set: scikit-learn's 1,797 real 8x8 handwritten digits (10 classes).

It ships with scikit-learn, so the default run needs no download. Pixels (0..16 in
scikit-learn) are scaled to uint8 0..255 so that the digits flow through the same
uint8 pipeline, preprocessing and SavedModel signature as the image data sets.
"""
import numpy as np
from sklearn.datasets import load_digits

from famus_tf.data import prepared, splits

NUM_CLASSES = 10
IMAGE_SHAPE = (8, 8, 1)
# Per-channel mean and std of all 1,797 images on the 0..1 scale, computed once with
#   x = np.round(load_digits().images * 255 / 16) / 255; x.mean(), x.std()
MEAN = (0.3053087,)
STD = (0.3758859,)


def load_digits_splits(test_fraction=0.3, seed=0):
    """{'train': (images, labels), 'test': (images, labels)}, a stratified split."""
    d = load_digits()
    images = np.round(d.images * 255.0 / 16.0).astype(np.uint8)[..., None]
    labels = d.target.astype(np.int64)
    train, test = splits.stratified_split(labels, test_fraction, seed)
    return {"train": (images[train], labels[train]), "test": (images[test], labels[test])}


def check_splits(data_cfg):
    """{split: (images, labels)} and the number of classes, for data/check.py."""
    del data_cfg
    return load_digits_splits(), NUM_CLASSES


def prepare(data_cfg, noise_cfg):
    """The Prepared digits: meta set out of the training split, then the noise."""
    parts = load_digits_splits(seed=0)
    images, labels = parts["train"]
    return prepared.with_meta_split("digits", NUM_CLASSES, IMAGE_SHAPE, MEAN, STD, images, labels,
                                    parts["test"], data_cfg, noise_cfg)
