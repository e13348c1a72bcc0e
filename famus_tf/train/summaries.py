"""TensorBoard: writing the run's summaries, and reading event files back (for tests).

Scalars, histograms of the per-example weights of clean and of noisy examples
(supplement Fig. 1), the samplers' per-tensor selection counts as a histogram, an
image and a text table (supplement Fig. 2), and the run's hparams.
"""
import glob
import os

import numpy as np
import tensorflow as tf
from tensorboard.plugins.hparams import api as hp
from tensorboard.plugins.hparams import api_pb2, summary as hparams_summary
from tensorflow.core.util import event_pb2


class Summaries:
    """A file writer; `enabled=False` (non-chief workers) makes every call a no-op.

    `after_step`: summaries at steps up to it are not written again. A resumed run
    passes the last step its killed predecessor wrote (`last_step`): the steps between
    the checkpoint and the kill are re-run bit-exactly, so the series continues
    without a step written twice."""

    def __init__(self, logdir, enabled=True, after_step=-1):
        self.enabled = enabled
        self.after_step = after_step
        self.writer = tf.summary.create_file_writer(logdir) if enabled else None

    def _skip(self, step):
        return not self.enabled or int(step) <= self.after_step

    def scalars(self, step, values, prefix=""):
        if self._skip(step):
            return
        with self.writer.as_default(step=int(step)):
            for name, value in values.items():
                tf.summary.scalar(prefix + name, float(value))

    def histogram(self, step, name, values):
        if not self._skip(step):
            with self.writer.as_default(step=int(step)):
                tf.summary.histogram(name, np.asarray(values, np.float64))

    def image(self, step, name, array):
        """A single-channel image; floats are scaled from their range to 0..255."""
        if self._skip(step):
            return
        a = np.asarray(array, np.float64)
        if a.dtype != np.uint8:
            span = a.max() - a.min()
            a = (a - a.min()) / (span if span > 0 else 1.0) * 255.0
        img = np.asarray(a, np.uint8)[None, :, :, None]
        with self.writer.as_default(step=int(step)):
            tf.summary.image(name, img)

    def text(self, step, name, text):
        if not self._skip(step):
            with self.writer.as_default(step=int(step)):
                tf.summary.text(name, text)

    def hparams(self, values, metrics=()):
        """The run's hparams session start, and the metric tags the hparams dashboard shows."""
        if self.enabled:
            with self.writer.as_default():
                hp.hparams_config(hparams=[hp.HParam(k) for k in values],
                                  metrics=[hp.Metric(m) for m in metrics])
                hp.hparams(values)

    def end_session(self, step, status="STATUS_SUCCESS"):
        """The hparams session end (its final metrics are the scalars written before)."""
        if self.enabled:
            pb = hparams_summary.session_end_pb(api_pb2.Status.Value(status))
            with self.writer.as_default(step=int(step)):
                tf.summary.experimental.write_raw_pb(pb.SerializeToString(), step=int(step))

    def flush(self):
        if self.enabled:
            self.writer.flush()

    def close(self):
        if self.enabled:
            self.writer.close()


def weight_histograms(summaries, step, weights, is_clean):
    """Histograms `weights/clean` and `weights/noisy` of per-example weights."""
    weights, is_clean = np.asarray(weights), np.asarray(is_clean, bool)
    for name, mask in (("clean", is_clean), ("noisy", ~is_clean)):
        if mask.any():
            summaries.histogram(step, f"weights/{name}", weights[mask])


def store_histograms(summaries, step, meta_weights, is_clean):
    """Histograms `meta_weight/clean` and `meta_weight/noisy` of the weight store's
    per-example means (train/weight_store.py; examples never seen left out)."""
    meta_weights, is_clean = np.asarray(meta_weights), np.asarray(is_clean, bool)
    seen = np.isfinite(meta_weights)
    for name, mask in (("clean", is_clean & seen), ("noisy", ~is_clean & seen)):
        if mask.any():
            summaries.histogram(step, f"meta_weight/{name}", meta_weights[mask])


class WeightMeans:
    """Running means of the example weights of clean and of noisy examples over the
    batches given (the loop gives the last batch of each multi-step call);
    `scalars()` is `{weights/clean_mean, weights/noisy_mean}` of what was seen."""

    def __init__(self):
        self.sums = {"clean": [0.0, 0], "noisy": [0.0, 0]}

    def add(self, weights, is_clean):
        weights, is_clean = np.asarray(weights, np.float64), np.asarray(is_clean, bool)
        for name, mask in (("clean", is_clean), ("noisy", ~is_clean)):
            self.sums[name][0] += float(weights[mask].sum())
            self.sums[name][1] += int(mask.sum())

    def scalars(self):
        return {f"weights/{k}_mean": s / n for k, (s, n) in self.sums.items() if n}


def selection_counts(summaries, step, counts, names):
    """How often each candidate tensor's gate was on, as histogram, bar image and text
    (non-finite or negative counts, which only a diverged run produces, are shown as 0)."""
    counts = np.asarray(counts, np.float64)
    counts = np.where(np.isfinite(counts) & (counts > 0), counts, 0.0)
    summaries.histogram(step, "famus/selection_counts",
                        np.repeat(np.arange(len(counts)), counts.astype(np.int64)))
    height = 32
    bars = np.zeros((height, max(len(counts), 1)))
    top = counts.max() if counts.size and counts.max() > 0 else 1.0
    for k, c in enumerate(counts):
        bars[height - int(round(c / top * height)):, k] = 1.0
    summaries.image(step, "famus/selection_counts_image", bars)
    summaries.text(step, "famus/selection_counts_table",
                   "\n".join(f"{k} {n}: {int(c)}" for k, (n, c) in enumerate(zip(names, counts))))


def last_step(logdir):
    """The largest step of any summary under `logdir` (-1: none)."""
    return max((e.step for e in _events(logdir) if e.HasField("summary")), default=-1)


def _event_files(logdir):
    """Event files under `logdir`, oldest first (each writing process has its own)."""
    return sorted(glob.glob(os.path.join(logdir, "**", "events.out.tfevents.*"), recursive=True))


def _file_events(path):
    """The events of one file; a record cut short by a killed writer ends the file."""
    try:
        for record in tf.data.TFRecordDataset(path):
            yield event_pb2.Event.FromString(record.numpy())
    except tf.errors.DataLossError:
        return


def _events(logdir):
    for path in _event_files(logdir):
        yield from _file_events(path)


def read_spans(logdir):
    """[(first, last) wall time] of the summaries of each event file under `logdir` that
    has any (the file-version record is left out: its time is rounded to the second)."""
    spans = []
    for path in _event_files(logdir):
        times = [e.wall_time for e in _file_events(path) if e.HasField("summary")]
        if times:
            spans.append((min(times), max(times)))
    return spans


def read_tags(logdir):
    """Every summary tag in the event files under `logdir`."""
    return {v.tag for e in _events(logdir) for v in e.summary.value}


def read_scalars(logdir):
    """{tag: [(step, value)]} of the scalar summaries under `logdir`."""
    out = {}
    for e in _events(logdir):
        for v in e.summary.value:
            if v.HasField("tensor") and not v.tensor.tensor_shape.dim:
                value = tf.make_ndarray(v.tensor)
                if np.issubdtype(value.dtype, np.number):
                    out.setdefault(v.tag, []).append((e.step, float(value)))
    return out
