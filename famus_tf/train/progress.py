"""Progress of an epoch: a Keras progress bar with ETA on a terminal; without one (nohup,
cluster logs) a log line every `every` seconds and at the end of the epoch:

  epoch 3/40 step 120/1000 4.21 steps/s loss=1.234 accuracy=0.56 ... ETA epoch 0:03:29 run 2:41:10

steps/s is measured since the epoch (or the resumed run) started; the ETAs are the steps
left in the epoch and in the run (`run_left`, counted from `pos`) at that rate
(evaluation time not included).
"""
import datetime
import sys
import time

import keras
from absl import logging


def _hms(seconds):
    return str(datetime.timedelta(seconds=int(round(seconds))))


class _Plain:
    def __init__(self, epoch, epochs, total, pos, run_left=None, every=30.0, clock=time.monotonic,
                 log=logging.info):
        self.epoch, self.epochs, self.total, self.pos0 = epoch, epochs, total, pos
        self.run_left = total - pos if run_left is None else run_left
        self.every, self.clock, self.log = every, clock, log
        self.t0 = self.last = clock()

    def update(self, pos, values):
        now = self.clock()
        if pos < self.total and now - self.last < self.every:
            return
        self.last = now
        done = pos - self.pos0
        rate = done / max(now - self.t0, 1e-9)
        metrics = " ".join(f"{k.split('/')[-1]}={v:.4g}" for k, v in values.items())
        eta = (f" ETA epoch {_hms((self.total - pos) / rate)} run "
               f"{_hms(max(self.run_left - done, 0) / rate)}") if rate > 0 else ""
        self.log("epoch %d/%d step %d/%d %.3g steps/s %s%s", self.epoch + 1, self.epochs, pos,
                 self.total, rate, metrics, eta)


class _Bar:
    def __init__(self, epoch, epochs, total, pos, **_):
        print(f"Epoch {epoch + 1}/{epochs}")
        self.bar = keras.utils.Progbar(total, stateful_metrics=["loss", "accuracy", "val_loss"])
        if pos:
            self.bar.update(pos)

    def update(self, pos, values):
        self.bar.update(pos, [(k.split("/")[-1], v) for k, v in values.items()
                              if k in ("train/loss", "train/accuracy", "meta/val_loss")])


def progress(epoch, epochs, total, pos, run_left=None, every=30.0):
    """A progress display of epoch `epoch` (0-based) at step `pos` of `total`; `run_left`:
    steps left in the run from here; `every`: seconds between log lines (no terminal)."""
    return (_Bar if sys.stdout.isatty() else _Plain)(epoch, epochs, total, pos,
                                                     run_left=run_left, every=every)
