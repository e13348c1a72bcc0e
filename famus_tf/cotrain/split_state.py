"""The per-epoch splits as checkpointed variables (exact resume of Algorithm 2).

The split of epoch e is a function of the networks at the start of e, which a
mid-epoch checkpoint no longer holds. So each network's `divide.Split` is stored in
tf.Variables (clean probabilities, masks, normalised losses, GMM components, guard
flags), together with the epoch it belongs to, and the loop saves a checkpoint right
after the split: a run killed during the epoch resumes with the stored split; one
killed during the split resumes from the end of the previous epoch and recomputes it
from the same networks (divide.split is deterministic given its seed).
"""
import numpy as np
import tensorflow as tf

from famus_tf.cotrain import divide

_ARRAYS = (("clean_prob", tf.float64), ("evaluated", tf.bool), ("labeled", tf.bool),
           ("meta", tf.bool), ("normalised_losses", tf.float64))
_COMPONENTS = ("means", "variances", "weights")
_FLAGS = ("guarded", "meta_guarded")


class SplitState:
    """Variables holding one `divide.Split` of N examples; `trackables()` for a checkpoint."""

    def __init__(self, num_examples):
        self.vars = {name: tf.Variable(tf.zeros([num_examples], dtype), trainable=False, name=name)
                     for name, dtype in _ARRAYS}
        self.vars.update({name: tf.Variable(tf.zeros([2], tf.float64), trainable=False, name=name)
                          for name in _COMPONENTS})
        self.vars.update({name: tf.Variable(False, trainable=False, name=name) for name in _FLAGS})

    def trackables(self):
        return tf.train.Checkpoint(**self.vars)

    def assign(self, split):
        for name, var in self.vars.items():
            var.assign(np.asarray(getattr(split, name)))

    def value(self):
        v = {name: var.numpy() for name, var in self.vars.items()}
        return divide.Split(**{k: (bool(x) if k in _FLAGS else x) for k, x in v.items()})
