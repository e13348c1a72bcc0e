"""Image files on disk: a host-side scan that names every missing or corrupt file,
and the tf.data decode of the good ones.

Web-scale noisy data sets ship with broken files. A training run must neither crash
mid-epoch nor drop files silently: `scan` checks every listed file once with Pillow
before training and returns which are good and, for each bad one, its path and
reason ('missing', 'corrupt: ...'); the pipeline then reads only good files, and the
run logs the count and the names. `decode` turns a file into a fixed-size uint8 image
(the stored form the step, the evaluator and the SavedModel signature take).
"""
import os

import numpy as np
import tensorflow as tf


def scan(paths):
    """(ok mask [N] bool, [(path, reason)] for each bad file), checked with Pillow."""
    from PIL import Image
    ok = np.ones(len(paths), bool)
    bad = []
    for i, path in enumerate(paths):
        path = str(path)
        if not os.path.isfile(path):
            ok[i] = False
            bad.append((path, "missing"))
            continue
        try:
            with Image.open(path) as img:
                img.verify()
            with Image.open(path) as img:  # verify() does not decode the pixels
                img.load()
        except Exception as e:  # noqa: BLE001 -- any decoder error marks the file corrupt
            ok[i] = False
            bad.append((path, f"corrupt: {type(e).__name__}: {e}"))
    return ok, bad


def decode(path, size):
    """A JPEG/PNG file as uint8 [size, size, 3] (resized with bilinear interpolation)."""
    image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    image = tf.image.resize(image, [size, size], antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)


def file_dataset(paths, size, *columns):
    """tf.data of (decoded image, *columns) for the given files, in order."""
    ds = tf.data.Dataset.from_tensor_slices((np.asarray(paths, str),) + tuple(columns))
    return ds.map(lambda p, *rest: (decode(p, size),) + tuple(rest),
                  num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
