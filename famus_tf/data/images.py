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


def jpeg_is_complete(data):
    """True if JPEG bytes hold a scan (marker FFDA) and an end-of-image marker (FFD9)
    after the last one. A truncated download fails this; the check reads the bytes
    without decoding them, so libjpeg never sees such a file (it would print
    'Improper call to JPEG library in state 201' or 'Premature end of JPEG data' on
    stderr, without the file's name). Inside entropy-coded data 0xFF is always followed
    by 0x00 or a restart marker, so the two markers cannot occur there by chance."""
    b = tf.cast(tf.io.decode_raw(data, tf.uint8), tf.int32)
    ff, nxt = tf.equal(b[:-1], 0xFF), b[1:]
    pos = tf.range(tf.size(nxt))
    last_scan = tf.reduce_max(tf.concat([tf.boolean_mask(pos, ff & tf.equal(nxt, 0xDA)), [-1]], 0))
    return (last_scan >= 0) & tf.reduce_any(ff & tf.equal(nxt, 0xD9) & (pos > last_scan))


def unreadable_reason(data):
    """'' if the bytes may be decoded, else why not ('not an image file', 'truncated
    JPEG ...'): the failures found without decoding."""
    jpeg = tf.image.is_jpeg(data)
    incomplete = jpeg & tf.logical_not(jpeg_is_complete(data))
    return tf.where(tf.logical_not(is_image(data)), "not an image file",
                    tf.where(incomplete, "truncated JPEG: no end-of-image marker after its last scan",
                             ""))


def decode_bytes(data, size):
    """Encoded image bytes as uint8 [size, size, 3] (resized with antialiasing)."""
    image = tf.io.decode_image(data, channels=3, expand_animations=False)
    image = tf.image.resize(image, [size, size], antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)


def decode(path, size):
    """An image file as uint8 [size, size, 3]."""
    return decode_bytes(tf.io.read_file(path), size)


RECENT = 8  # a report names at most this many files tf.data dropped in a row
END = "\x00end"  # the reason of the element that follows a finite stream


def _mark_end_and_recent(ds):
    """(k, recent paths [RECENT], path, *rest): `recent` ends with this element's path;
    an element whose path is END follows a finite stream (so that skips at its end are
    reported too)."""
    end = tf.data.Dataset.from_tensors((tf.constant(END),) + tuple(
        tf.zeros(s.shape, s.dtype) for s in ds.element_spec[1:]))

    def remember(recent, el):
        recent = tf.concat([recent[1:], [el[0]]], 0)
        return recent, (recent,) + el
    ds = ds.concatenate(end).scan(tf.fill([RECENT], ""), remember)
    return ds.enumerate().map(lambda k, el: (k,) + el)


def _report_skips(what):
    """A `scan` function over (k, recent, reason, image, *rest) that says on stderr what
    was skipped, with the running count: a file with a `reason` ('skipped PATH (REASON)');
    the files tf.data dropped since the last element on a read or decode error (its
    warning gives TensorFlow's reason), named from `recent` ('cannot read PATH, ...')."""
    def report(state, el):
        last, total = state
        k, recent, reason = el[0], el[1], el[2]
        named = tf.not_equal(reason, "") & tf.not_equal(reason, END)
        dropped = k - last - 1
        total = total + dropped + tf.cast(named, tf.int64)
        shown = tf.minimum(dropped, RECENT - 1)
        so_far = tf.strings.join([" (", tf.strings.as_string(total), " unreadable image(s) skipped so far)"])
        lost = tf.strings.join([what, ": cannot read ", tf.strings.reduce_join(
            recent[RECENT - 1 - shown:RECENT - 1], separator=", "), tf.where(
                dropped > shown, tf.strings.format(" and {} more", dropped - shown), ""), so_far])
        bad = tf.strings.join([what, ": skipped ", recent[RECENT - 1], " (", reason, ")", so_far])

        def say(message):
            def print_it():
                with tf.control_dependencies([tf.print(message, output_stream=sys.stderr)]):
                    return tf.constant(0)
            return print_it
        tf.cond(dropped > 0, say(lost), lambda: tf.constant(0))
        tf.cond(named, say(bad), lambda: tf.constant(0))
        return (k, total), el
    return report


def decode_or_skip(ds, size, what):
    """Maps (path, *rest) -> (image, *rest), skipping every file that cannot be read.

    Every skipped file is named on stderr once per pass, with the running count
    ('<what>: ... (N unreadable image(s) skipped so far)'): a file that is not an image
    or a truncated JPEG (`unreadable_reason`, found without decoding) as 'skipped PATH
    (REASON)'; a missing file or one the decoder rejects as 'cannot read PATH'. Nothing
    stops mid-epoch and nothing is dropped silently (`python -m famus_tf.data.check`
    names every bad file up front).
    """
    def read(k, recent, path, *rest):
        end = tf.equal(path, END)
        data = tf.cond(end, lambda: tf.constant(b""), lambda: tf.io.read_file(path))
        return (k, recent, tf.where(end, END, unreadable_reason(data)), data) + rest

    def decoded(k, recent, reason, data, *rest):
        image = tf.cond(tf.equal(reason, ""), lambda: decode_bytes(data, size),
                        lambda: tf.zeros([size, size, 3], tf.uint8))
        return (k, recent, reason, image) + rest

    ds = _mark_end_and_recent(ds)
    ds = ds.map(read, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.ignore_errors(log_warning=True)
    ds = ds.map(decoded, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.ignore_errors(log_warning=True)
    ds = ds.scan((tf.constant(-1, tf.int64), tf.constant(0, tf.int64)), _report_skips(what))
    return ds.filter(lambda k, recent, reason, *rest: tf.equal(reason, "")).map(
        lambda k, recent, reason, *rest: rest)


def file_dataset(paths, size, *columns):
    """tf.data of (decoded image, *columns) for the given files, in order."""
    ds = tf.data.Dataset.from_tensor_slices((np.asarray(paths, str),) + tuple(columns))
    return ds.map(lambda p, *rest: (decode(p, size),) + tuple(rest),
                  num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
