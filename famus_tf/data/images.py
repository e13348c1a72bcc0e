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
import sys

import numpy as np
import tensorflow as tf
from PIL import Image


def scan(paths):
    """(ok mask [N] bool, [(path, reason)] for each bad file), checked with Pillow."""
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


def is_image(data):
    """True if the bytes start like a JPEG, PNG, GIF or BMP file (a cheap first check:
    empty files and HTML error pages saved as .jpg, the usual web-crawl breakage, fail it)."""
    head = tf.strings.substr(data, 0, 4)
    return (tf.image.is_jpeg(data) | tf.equal(head, b"\x89PNG") | tf.equal(head, b"GIF8")
            | tf.equal(tf.strings.substr(data, 0, 2), b"BM"))


def decode_bytes(data, size):
    """Encoded image bytes as uint8 [size, size, 3] (resized with antialiasing)."""
    image = tf.io.decode_image(data, channels=3, expand_animations=False)
    image = tf.image.resize(image, [size, size], antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)


def decode(path, size):
    """An image file as uint8 [size, size, 3]."""
    return decode_bytes(tf.io.read_file(path), size)


def decode_or_skip(ds, size, what):
    """Maps (path, *rest) -> (image, *rest), skipping every file that cannot be read.

    A file that is not an image is named on stderr ('<what>: skipped PATH (not an image
    file)'); one that fails to decode or to be read is dropped by tf.data (its warning
    carries TensorFlow's error). Every skip is counted, and the running count printed:
    '<what>: N unreadable image(s) skipped so far'. Nothing stops mid-epoch and nothing
    is dropped silently (`python -m famus_tf.data.check` names every bad file up front).
    """
    def read(k, el):
        return (k, el[0], tf.io.read_file(el[0])) + tuple(el[1:])

    def keep(k, path, data, *rest):
        def warn():
            note = tf.print(what + ": skipped", path, "(not an image file)",
                            output_stream=sys.stderr)
            with tf.control_dependencies([note]):
                return tf.constant(False)
        return tf.cond(is_image(data), lambda: tf.constant(True), warn)

    ds = ds.enumerate().map(read, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.ignore_errors(log_warning=True).filter(keep)
    ds = ds.map(lambda k, path, data, *rest: (k, decode_bytes(data, size)) + tuple(rest),
                num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.ignore_errors(log_warning=True)

    def count(state, el):
        last, total = state
        gap = el[0] - last - 1
        total = total + gap

        def report():
            note = tf.print(what + ":", total, "unreadable image(s) skipped so far",
                            output_stream=sys.stderr)
            with tf.control_dependencies([note]):
                return tf.identity(total)

        total = tf.cond(gap > 0, report, lambda: total)
        return (el[0], total), el[1:]

    return ds.scan((tf.constant(-1, tf.int64), tf.constant(0, tf.int64)), count)


def file_dataset(paths, size, *columns):
    """tf.data of (decoded image, *columns) for the given files, in order."""
    ds = tf.data.Dataset.from_tensor_slices((np.asarray(paths, str),) + tuple(columns))
    return ds.map(lambda p, *rest: (decode(p, size),) + tuple(rest),
                  num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
