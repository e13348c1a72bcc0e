"""The embedded data set: scikit-learn's 1,797 real 8x8 handwritten digits (10 classes).

It ships with scikit-learn, so the default run needs no download. Pixels (0..16 in
scikit-learn) are scaled to uint8 0..255 so that the digits flow through the same
uint8 pipeline, preprocessing and SavedModel signature as the image data sets.
"""
import numpy as np

from famus_tf.data import splits

NUM_CLASSES = 10
IMAGE_SHAPE = (8, 8, 1)
# Per-channel mean and std of all 1,797 images on the 0..1 scale, computed once with
#   x = np.round(load_digits().images * 255 / 16) / 255; x.mean(), x.std()
MEAN = (0.3053087,)
STD = (0.3758859,)


def load_digits_splits(test_fraction=0.3, seed=0):
    """{'train': (images, labels), 'test': (images, labels)}, a stratified split."""
    from sklearn.datasets import load_digits
    d = load_digits()
    images = np.round(d.images * 255.0 / 16.0).astype(np.uint8)[..., None]
    labels = d.target.astype(np.int64)
    train, test = splits.stratified_split(labels, test_fraction, seed)
    return {"train": (images[train], labels[train]), "test": (images[test], labels[test])}
