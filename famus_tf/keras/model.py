"""`MetaReweighting`: a keras.Model whose `train_step` is the engine's meta step.

    model = MetaReweighting(my_model, meta_data=(x_clean, y_clean))
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), metrics=["accuracy"])
    model.fit(noisy_ds, epochs=40, validation_data=test_ds)

`base_model` is a built Keras 3 model (Sequential, functional or subclassed) that maps
already-preprocessed float inputs to *logits* (no final softmax: the per-example loss
l_i, the weighting net's input, is a cross-entropy on logits). One `fit` step on a batch
(x, y) [or (x, y, example_id)] is `MetaLearner.train_step(x, y, x_meta, y_meta)` of
famus_tf/meta/step.py (paper Algorithm 1, with FaMUS's gated meta-gradient when
`famus=True`) with the meta batch of meta_data.py for the current iteration; nothing of
the step is reimplemented here. The base optimiser is the engine's (PyTorch-style SGD,
coupled weight decay `weight_decay`), configured from the `keras.optimizers.SGD` given to
`compile` (learning rate, momentum, nesterov); `meta_optimizer` (an SGD too) sets beta
and its momentum. Every engine state Keras must save (meta model, samplers, their
optimisers) is an attribute of this model, so `save_weights`, `ModelCheckpoint` and
`BackupAndRestore` hold it; the meta batches are a function of the iteration, so a
resumed fit continues exactly. With (x, y, example_id) batches the per-example weights go
into the project's weight store (train/weight_store.py), `example_weights()`.

History: loss (mean training loss l_i), accuracy, meta_loss (L_val at w_hat), mean_weight
(mean of B v_i, 1 with normalised MW-Net weights), weight_std (its spread over the batch),
gate_fraction, loss_r, loss_g (FaMUS), epoch means. `evaluate`, `predict` and
`validation_data` use the base model (cross-entropy on logits plus the compiled metrics).
"""
import dataclasses

import keras
import numpy as np
import tensorflow as tf

from famus_tf.config import MetaConfig, OptimConfig
from famus_tf.keras import meta_data as meta_lib
from famus_tf.meta import replicas
from famus_tf.meta.step import MetaLearner
from famus_tf.train import distribute, weight_store

_HISTORY = {"loss": "loss", "accuracy": "accuracy", "val_loss": "meta_loss",
            "gate_fraction": "gate_fraction", "loss_r": "loss_r", "loss_g": "loss_g"}
_STORE_KEYS = ("weight_store_values", "weight_store_counts")  # in the saved weights


def _check_base(model):
    """A built keras.Model with trainable variables."""
    if not isinstance(model, keras.Model):
        raise ValueError(f"base_model must be a keras.Model, got {type(model).__name__}")
    if not model.built or not model.trainable_variables:
        raise ValueError("base_model is not built: call it once on a batch (or build it with an "
                         "input shape) before wrapping it, so that its variables exist")


def _head_prefix(model):
    """The layer path of the last trainable tensor: the classifier."""
    return model.trainable_variables[-1].path.rsplit("/", 1)[0] + "/"


class MetaReweighting(keras.Model):
    """A base model trained by meta-learned reweighting (module docstring).

    Args: base_model; meta_data (trusted (x, y): tf.data.Dataset or tuple); num_classes
    (default: the model's output width); method (mwnet | l2r | mlc | plain); famus;
    meta_batch_size; head (variable-path prefix of the classifier, default the last
    layer's); weight_decay (coupled, as the program's --weight_decay); virtual_lr;
    sync_batchnorm (global-batch BatchNorm statistics under a strategy, so that the step
    equals the one-device step); seed (meta batches and gate noise); any other MetaConfig
    field (candidates, num_active, actual_step, gate_weighting, lambda_r, ...).
    """

    def __init__(self, base_model, meta_data, num_classes=None, method="mwnet", famus=True,
                 meta_batch_size=100, head=None, weight_decay=5e-4, virtual_lr=None,
                 sync_batchnorm=True, seed=0, **meta_options):
        super().__init__(name=f"meta_reweighting_{base_model.name}")
        _check_base(base_model)
        unknown = set(meta_options) - {f.name for f in dataclasses.fields(MetaConfig)}
        if unknown:
            raise ValueError(f"unknown MetaReweighting option(s) {sorted(unknown)}")
        x, y = meta_lib.as_arrays(meta_data)
        probe = base_model(tf.convert_to_tensor(x[:8]), training=False) \
            if self._shape_ok(base_model, x) else None
        out = np.asarray(probe)
        num_classes = int(num_classes or out.shape[-1])
        if out.ndim != 2 or out.shape[-1] != num_classes:
            raise ValueError(f"base_model must output [batch, {num_classes}] logits, "
                             f"it outputs shape {out.shape}")
        if (out >= 0).all() and np.allclose(out.sum(-1), 1.0, atol=1e-3):
            raise ValueError("base_model ends in a softmax: MetaReweighting expects logits "
                             "(remove the final softmax; add it back for inference)")
        self.base_model, self.num_classes = base_model, num_classes
        self.meta_stream = meta_lib.MetaStream((x, y), num_classes, x.shape[1:],
                                               meta_batch_size, seed)
        self.meta_config = MetaConfig(method=method, famus=famus, seed=seed,
                                      head_prefix=head or _head_prefix(base_model), **meta_options)
        self.weight_decay, self.virtual_lr = float(weight_decay), virtual_lr
        if sync_batchnorm:
            distribute.sync_batchnorm(base_model)
        self.learner, self.store = None, None
        self.built = True  # the base model is (BackupAndRestore asks)

    @staticmethod
    def _shape_ok(model, x):
        declared = getattr(model, "inputs", None)  # Sequential / functional: the Input's shape
        if declared and len(declared) == 1:
            want = tuple(declared[0].shape[1:])
            if len(want) != x.ndim - 1 or any(w not in (None, g) for w, g in zip(want, x.shape[1:])):
                raise ValueError(f"meta_data: examples of shape {tuple(x.shape[1:])}, base_model "
                                 f"takes {want}")
        try:
            model(tf.convert_to_tensor(x[:1]), training=False)
            return True
        except Exception as e:  # any shape or dtype mismatch of the user's model
            raise ValueError(f"meta_data: examples of shape {tuple(x.shape[1:])} do not fit "
                             f"base_model ({str(e).splitlines()[0][:160]})") from None

    # ---------------------------------------------------------------- compile
    def compile(self, optimizer=None, meta_optimizer=None, metrics=None, jit_compile=False,
                steps_per_execution=1, **kwargs):
        """Builds the engine's MetaLearner (in the current strategy scope) from `optimizer`
        (keras.optimizers.SGD, constant learning rate: schedule it with a
        LearningRateScheduler callback) and `meta_optimizer` (SGD: beta, momentum)."""
        lr, momentum, nesterov = _sgd_settings(optimizer, "optimizer", (0.1, 0.9, True))
        meta = self.meta_config
        if meta_optimizer is not None:
            beta, beta_momentum, _ = _sgd_settings(meta_optimizer, "meta_optimizer", None)
            meta = dataclasses.replace(meta, meta_lr=beta, meta_momentum=beta_momentum)
        if jit_compile:
            meta = dataclasses.replace(meta, num_segments=0)  # as --xla: no switch_case
        self.meta_config = meta
        optim_config = OptimConfig(lr=lr, momentum=momentum, nesterov=nesterov,
                                   weight_decay=self.weight_decay, virtual_lr=self.virtual_lr)
        self.learner = learner = MetaLearner(self.base_model, self.num_classes, meta, optim_config)
        for name, value in learner.trackables().items():
            if name not in ("model", "optimizer"):
                setattr(self, f"engine_{name}", value)  # saved with the model's weights
        self._meta_x = None
        self._trackers = {k: keras.metrics.Mean(name=k) for k in self.history_keys()}
        super().compile(optimizer=learner.optimizer,
                        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                        metrics=metrics, jit_compile=jit_compile,
                        steps_per_execution=steps_per_execution, **kwargs)

    def history_keys(self):
        """The training logs (History keys) of this configuration."""
        names = [_HISTORY[k] for k in self.learner.scalar_metrics()]
        if self.learner.method is not None:
            names += ["mean_weight", "weight_std"]
        return names

    @property
    def metrics(self):
        """The training trackers first, then Keras' (which track them too): each once."""
        out = []
        for m in list(getattr(self, "_trackers", {}).values()) + super().metrics:
            if all(m is not o for o in out):
                out.append(m)
        return out

    # ------------------------------------------------------------------ steps
    def call(self, inputs, training=False):
        return self.base_model(inputs, training=training)

    def train_step(self, data):
        x, y, ids = _unpack(data)
        learner = self.learner
        dtype = learner.dtype
        y = tf.cast(y, tf.int64)
        if learner.method is None:
            m = learner.train_step(tf.cast(x, dtype), y)
        else:
            xv, yv = self.meta_stream.batch(learner.optimizer.iterations, dtype)
            m = learner.train_step(tf.cast(x, dtype), y, xv, yv)
        logs = {_HISTORY[k]: m[k] for k in learner.scalar_metrics()}
        if learner.method is not None:
            v = m["example_weights"]
            relative = v * tf.cast(replicas.global_size(v), v.dtype)
            mean = replicas.all_sum(replicas.batch_mean(relative))
            logs["mean_weight"] = mean
            logs["weight_std"] = tf.sqrt(replicas.all_sum(replicas.batch_mean(
                tf.square(relative - mean))))
            if ids is not None and self.store is not None:
                self._store_update(ids, v)
        for k, value in logs.items():
            self._trackers[k].update_state(value)
        return {k: t.result() for k, t in self._trackers.items()}

    def _store_update(self, ids, v):
        seen = replicas.all_gather((tf.cast(ids, tf.int64), v))
        ctx = tf.distribute.get_replica_context()
        if ctx is None or ctx.num_replicas_in_sync == 1:
            self.store.update(*seen)
            return
        # the store is a plain variable pair (weight_store.py): written once, cross-replica
        ctx.merge_call(lambda strategy, s: self.store.update(
            *strategy.experimental_local_results(s)[0]), args=(seen,))

    def get_metrics_result(self):
        """The training trackers, after the evaluation metrics once they are built."""
        out = {}
        if self._compile_metrics is not None and self._compile_metrics.built:
            out.update(loss=self._loss_tracker.result(), **self._compile_metrics.result())
        out.update({k: t.result() for k, t in self._trackers.items()})
        return out

    def test_step(self, data):
        x, y, _ = _unpack(data)
        logits = self.base_model(x, training=False)
        loss = self.compute_loss(x=x, y=y, y_pred=logits, training=False)
        self._loss_tracker.update_state(loss)
        if self._compile_metrics is not None:
            self._compile_metrics.update_state(y, logits)
        out = {"loss": self._loss_tracker.result()}
        if self._compile_metrics is not None:
            out.update(self._compile_metrics.result())
        return out

    # ------------------------------------------------------------------- fit
    def fit(self, x=None, y=None, *args, **kwargs):
        """keras.Model.fit after checking the data (labels present and in range; with
        example ids, the weight store is made for ids 0..max id)."""
        if self.learner is None:
            raise ValueError("call compile() before fit()")
        max_id = _check_train_data(x, y, self.num_classes)
        if max_id is not None and self.store is None and weight_store.keeps_store(
                self.meta_config.method):
            self.store = weight_store.WeightStore(max_id + 1)
        if max_id is not None and self.store is not None and max_id >= self.store.values.shape[0]:
            raise ValueError(f"example id {max_id} is outside the weight store of "
                             f"{self.store.values.shape[0]} examples (restored or made by an "
                             "earlier fit); ids must be 0..N-1 of one training set")
        return super().fit(x, y, *args, **kwargs)

    def example_weights(self):
        """[N] per-example meta-learned weight (mean of B v_i over its last appearances,
        NaN: never seen), from (x, y, example_id) batches; None without ids. The store is
        part of the saved weights (save_weights, ModelCheckpoint, BackupAndRestore)."""
        return None if self.store is None else self.store.means()

    # ------------------------------------------------------- saved state
    def save_own_variables(self, store):
        """Keras' weights file entry of this model: its own variables (Keras') and the
        weight store's two variables (a tf.Module, which Keras' saving does not walk)."""
        super().save_own_variables(store)
        if self.store is not None:
            store[_STORE_KEYS[0]] = self.store.values.numpy()
            store[_STORE_KEYS[1]] = self.store.counts.numpy()

    def load_own_variables(self, store):
        """Restores the weight store (made here if fit has not made it yet: a model
        loaded before training); a store of another size is refused."""
        keys = list(store.keys())
        if _STORE_KEYS[1] in keys:
            values, counts = store[_STORE_KEYS[0]], store[_STORE_KEYS[1]]
            if self.store is None:
                self.store = weight_store.WeightStore(len(counts), last=values.shape[1])
            if tuple(self.store.values.shape) != values.shape:
                raise ValueError(f"the weights file holds a weight store of {values.shape[0]} "
                                 f"examples, this model's has {self.store.values.shape[0]}")
            self.store.values.assign(values)
            self.store.counts.assign(counts)
        super().load_own_variables({k: store[k] for k in keys if k not in _STORE_KEYS})

    def evaluate(self, x=None, y=None, *args, return_dict=False, **kwargs):
        """keras.Model.evaluate on the base model: [loss, *compiled metrics] (a scalar
        without metrics), or their dict with return_dict=True."""
        logs = super().evaluate(x, y, *args, return_dict=True, **kwargs)
        if return_dict:
            return logs
        compiled = self._compile_metrics.metrics if self._compile_metrics is not None else []
        names = ["loss"] + [m.name for m in compiled]  # Keras' order (no training tracker)
        names += sorted(set(logs) - set(names))
        values = [logs[k] for k in names if k in logs]
        return values[0] if len(values) == 1 else values


def _unpack(data):
    if not isinstance(data, (tuple, list)) or len(data) < 2:
        raise ValueError("MetaReweighting trains on (x, y) or (x, y, example_id) batches")
    return data[0], data[1], (data[2] if len(data) > 2 else None)


def _sgd_settings(optimizer, what, default):
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


def _check_train_data(x, y, num_classes):
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
