"""Per-batch augmentation inside the compiled step (on the accelerator).

The pipeline ships uint8 batches; augmentation runs in the step on float batches, so
a GPU user does not wait on the host. Randomness is counter-based
(famus_tf/counter_rng.py), a function of (step, stream) only: a resumed run draws the
same crops as an uninterrupted one, and XLA draws the same as the default kernels.
(Keras' random layers keep their own generator state, which breaks both.)

  crop_flip            CIFAR / CNWL: zero-pad by `pad`, random crop back, random h-flip.
  crop_flip:SIZE       Clothing1M: random SIZE x SIZE crop of the stored (256) images + h-flip.
  resized_crop:SIZE    WebVision: random-resized crop (scale 0.08-1, ratio 3/4-4/3) to SIZE + h-flip.
  none
"""
import math

import tensorflow as tf

from famus_tf import counter_rng

AUGMENTATIONS = ("none", "crop_flip", "crop_flip:N", "resized_crop:N")
FORMATS = "none | crop_flip (pad 4) | crop_flip:SIZE | resized_crop:SIZE"


def parse(spec):
    """(kind, crop size or None) of an augmentation spec (see module doc); raises
    ValueError ('unknown augmentation ...', naming --augment) on any other string."""
    if spec in ("none", "crop_flip"):
        return spec, None
    kind, _, size = spec.partition(":")
    if kind in ("crop_flip", "resized_crop") and size.isdigit():
        return kind, int(size)
    raise ValueError(f"--augment: unknown augmentation {spec!r}; expected {FORMATS}")


def _uniform(n, step, stream, dtype=tf.float32):
    return counter_rng.uniform(n, step, stream, dtype)


def random_flip(images, step, stream):
    """Mirrors each image left-right with probability 1/2."""
    n = tf.shape(images)[0]
    flip = _uniform(n, step, stream) < 0.5
    return tf.where(flip[:, None, None, None], tf.reverse(images, axis=[2]), images)


def random_crop(images, size, step, stream, pad=0):
    """A random size x size window of each image (after zero-padding by `pad`)."""
    if pad:
        images = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
    n = tf.shape(images)[0]
    h, w = images.shape[1], images.shape[2]
    u = _uniform(2 * n, step, stream)
    dy = tf.cast(tf.floor(u[:n] * (h - size + 1)), tf.int32)
    dx = tf.cast(tf.floor(u[n:] * (w - size + 1)), tf.int32)
    rows = dy[:, None] + tf.range(size)[None, :]
    cols = dx[:, None] + tf.range(size)[None, :]
    images = tf.gather(images, rows, axis=1, batch_dims=1)
    return tf.gather(images, cols, axis=2, batch_dims=1)


def center_crop(images, size):
    h, w = images.shape[1], images.shape[2]
    top, left = (h - size) // 2, (w - size) // 2
    return images[:, top:top + size, left:left + size, :]


def random_resized_crop(images, size, step, stream, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)):
    """Inception-style crop: random area fraction and aspect ratio, resized to size."""
    n = tf.shape(images)[0]
    u = _uniform(4 * n, step, stream)
    area = scale[0] + (scale[1] - scale[0]) * u[:n]
    log_r = math.log(ratio[0]) + (math.log(ratio[1]) - math.log(ratio[0])) * u[n:2 * n]
    r = tf.exp(log_r)
    bh = tf.minimum(tf.sqrt(area / r), 1.0)
    bw = tf.minimum(tf.sqrt(area * r), 1.0)
    y0 = (1.0 - bh) * u[2 * n:3 * n]
    x0 = (1.0 - bw) * u[3 * n:]
    t = tf.linspace(0.0, 1.0, size)[None, :]
    h, w = images.shape[1], images.shape[2]
    ys = (y0[:, None] + bh[:, None] * t) * (h - 1)
    xs = (x0[:, None] + bw[:, None] * t) * (w - 1)
    return _resample(_resample(images, ys, axis=1), xs, axis=2)


def _resample(images, coords, axis):
    """Linear interpolation of each image along `axis` at per-example coordinates [n, k].

    Two separable passes give bilinear resizing; written with gathers because
    tf.image.crop_and_resize has no XLA kernel.
    """
    top = images.shape[axis] - 1
    lo = tf.floor(coords)
    frac = tf.cast(coords - lo, images.dtype)
    lo = tf.cast(lo, tf.int32)
    hi = tf.minimum(lo + 1, top)
    a = tf.gather(images, lo, axis=axis, batch_dims=1)
    b = tf.gather(images, hi, axis=axis, batch_dims=1)
    shape = [-1, 1, 1, 1]
    shape[axis] = coords.shape[1]
    frac = tf.reshape(frac, shape)
    return a * (1.0 - frac) + b * frac


def apply(spec, images, step, stream):
    """Augments a float batch by `spec` (see module doc)."""
    kind, size = parse(spec)
    if kind == "none":
        return images
    if kind == "crop_flip" and size is None:
        return random_flip(random_crop(images, images.shape[1], step, stream, pad=4), step, stream + 1)
    if kind == "crop_flip":
        return random_flip(random_crop(images, size, step, stream), step, stream + 1)
    return random_flip(random_resized_crop(images, size, step, stream), step, stream + 1)
