"""The input checks of famus_tf.keras: one clear error before any training.

The base model (built, a keras.Model), the optimisers given to `compile` (SGD with a
constant learning rate and no decoupled decay: the engine's optimiser is PyTorch-style
SGD) and the training data of `fit` (labels present and in range; example ids give the
size of the weight store). The trusted set's checks are meta_data.py's.
"""
import keras
import numpy as np
import tensorflow as tf

from famus_tf.keras import meta_data as meta_lib


def base_model(model):
    """A built keras.Model with trainable variables."""
    if not isinstance(model, keras.Model):
        raise ValueError(f"base_model must be a keras.Model, got {type(model).__name__}")
    if not model.built or not model.trainable_variables:
        raise ValueError("base_model is not built: call it once on a batch (or build it with an "
                         "input shape) before wrapping it, so that its variables exist")


def sgd_settings(optimizer, what, default):
    """(learning rate, momentum, nesterov) of a keras.optimizers.SGD (`default` for None)."""
    if optimizer is None and default is not None:
        return default
    if not isinstance(optimizer, keras.optimizers.SGD):
        raise ValueError(f"{what} must be a keras.optimizers.SGD (the engine's optimiser is "
                         f"SGD), got {type(optimizer).__name__}")
    if isinstance(optimizer._learning_rate, keras.optimizers.schedules.LearningRateSchedule):
        raise ValueError(f"{what}: give a constant learning rate and schedule it with "
                         "keras.callbacks.LearningRateScheduler")
    if optimizer.weight_decay:
        raise ValueError(f"{what}: Keras' decoupled weight_decay is not the engine's; pass "
                         "weight_decay= to MetaReweighting (coupled, PyTorch-style)")
    return float(optimizer.learning_rate.numpy()), float(optimizer.momentum), bool(optimizer.nesterov)


def train_data(x, y, num_classes):
    """Labels present and in [0, C); returns the largest example id or None."""
    if isinstance(x, tf.data.Dataset):
        spec = x.element_spec
        if not isinstance(spec, tuple) or len(spec) < 2:
            raise ValueError(f"the training dataset must yield (x, y) or (x, y, example_id); "
                             f"it yields {spec}")
        labels, ids = [], []
        for element in x.map(lambda *e: e[1:3]):
            labels.append(np.reshape(element[0].numpy(), [-1]))
            if len(element) > 1:
                ids.append(np.reshape(element[1].numpy(), [-1]))
        labels = np.concatenate(labels) if labels else np.zeros([0], np.int64)
        ids = np.concatenate(ids) if ids else None
    else:
        if y is None:
            raise ValueError("fit: no labels (y) given")
        if isinstance(x, (tuple, list)) and len(x) == 1:
            x = x[0]
        labels, ids = np.asarray(y), None
    meta_lib.check_labels(labels, num_classes, "training labels")
    return None if ids is None else int(ids.max())
