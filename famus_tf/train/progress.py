"""Progress of an epoch: a Keras progress bar with ETA on a terminal, log lines otherwise."""
import sys

import keras
from absl import logging


class _Plain:
    def __init__(self, epoch, epochs, total, pos):
        self.epoch, self.epochs, self.total = epoch, epochs, total

    def update(self, pos, values):
        if pos == self.total:
            logging.info("epoch %d/%d step %d/%d %s", self.epoch + 1, self.epochs, pos, self.total,
                         " ".join(f"{k.split('/')[-1]}={v:.4g}" for k, v in values.items()))


class _Bar:
    def __init__(self, epoch, epochs, total, pos):
        print(f"Epoch {epoch + 1}/{epochs}")
        self.bar = keras.utils.Progbar(total, stateful_metrics=["loss", "accuracy", "val_loss"])
        if pos:
            self.bar.update(pos)

    def update(self, pos, values):
        self.bar.update(pos, [(k.split("/")[-1], v) for k, v in values.items()
                              if k in ("train/loss", "train/accuracy", "meta/val_loss")])


def progress(epoch, epochs, total, pos):
    """A progress display of epoch `epoch` (0-based) at step `pos` of `total`."""
    return (_Bar if sys.stdout.isatty() else _Plain)(epoch, epochs, total, pos)
