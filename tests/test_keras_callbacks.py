"""famus_tf.keras with Keras' own machinery: steps_per_execution, jit_compile, the callbacks
users rely on (LearningRateScheduler, TensorBoard, ModelCheckpoint, EarlyStopping) and
mixed precision. Each test asserts what the feature must change (or must not)."""
import glob
import os

import keras
import numpy as np
import tensorflow as tf

import famus_tf.keras as fk
from tests.test_keras import C, _cnn, _data, _values, _wrapper


def _fit(model, x, y, steps, **kw):
    return model.fit(x[:16 * steps], y[:16 * steps], batch_size=16, epochs=kw.pop("epochs", 1),
                     shuffle=False, verbose=0, **kw).history


def _recompile(model, **kw):
    """compile again as _wrapper does (the engine's new variables drawn from seed 2)."""
    keras.utils.set_random_seed(2)
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
                  metrics=["accuracy"], **kw)


def test_steps_per_execution_trains_the_same_steps():
    a, (x, y, _, _) = _wrapper()
    _fit(a, x, y, 4)
    b, _ = _wrapper()
    _recompile(b, steps_per_execution=2)
    _fit(b, x, y, 4)
    assert int(a.learner.optimizer.iterations) == int(b.learner.optimizer.iterations) == 4
    for u, v in zip(_values(a.base_model.variables), _values(b.base_model.variables)):
        np.testing.assert_allclose(v, u, rtol=1e-6, atol=1e-6)


def test_jit_compile_trains_as_the_graph_step():
    a, (x, y, _, _) = _wrapper(famus=False)
    _fit(a, x, y, 2)
    b, _ = _wrapper(famus=False)
    _recompile(b, jit_compile=True)
    history = _fit(b, x, y, 2)
    assert b.learner.meta.num_segments == 0  # as the program's --xla
    assert np.isfinite(history["meta_loss"][0])
    moved = False
    for u, v, w in zip(_values(a.base_model.variables), _values(b.base_model.variables),
                       _values(_cnn().variables)):
        np.testing.assert_allclose(v, u, rtol=1e-3, atol=1e-4)  # XLA fuses: rounding only
        moved |= not np.allclose(u, w)
    assert moved


class _LrLog(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.seen = getattr(self, "seen", []) + [float(self.model.learner.learning_rate())]


def test_learning_rate_scheduler_sets_the_engine_rate():
    model, (x, y, _, _) = _wrapper()
    log = _LrLog()
    schedule = keras.callbacks.LearningRateScheduler(lambda e, lr: 0.1 * 0.5 ** e)
    _fit(model, x, y, 1, epochs=3, callbacks=[schedule, log])
    np.testing.assert_allclose(log.seen, [0.1, 0.05, 0.025], rtol=1e-6)
    # the virtual step follows it (no virtual_lr given)
    np.testing.assert_allclose(float(model.learner._virtual_lr()), 0.025, rtol=1e-6)


def test_tensorboard_checkpoint_and_early_stopping(tmp_path):
    model, (x, y, xm, ym) = _wrapper()
    path = str(tmp_path / "best.weights.h5")
    callbacks = [keras.callbacks.TensorBoard(str(tmp_path / "tb")),
                 keras.callbacks.ModelCheckpoint(path, save_weights_only=True),
                 keras.callbacks.EarlyStopping(monitor="val_loss", min_delta=1e9, patience=0)]
    history = model.fit(x[:32], y[:32], batch_size=16, epochs=5, verbose=0, shuffle=False,
                        validation_data=(xm, ym), callbacks=callbacks).history
    assert len(history["loss"]) == 2  # no epoch improves by 1e9: stopped after the second
    tags = set()
    for event_file in glob.glob(str(tmp_path / "tb" / "train" / "events.*")):
        for event in tf.compat.v1.train.summary_iterator(event_file):
            tags |= {v.tag for v in event.summary.value}
    assert {"epoch_loss", "epoch_meta_loss", "epoch_mean_weight", "epoch_gate_fraction"} <= tags
    assert glob.glob(str(tmp_path / "tb" / "validation" / "events.*"))
    # the checkpoint restores the trained base network into a fresh wrapper
    fresh, _ = _wrapper()
    fresh.load_weights(path)
    for u, v in zip(_values(model.base_model.variables), _values(fresh.base_model.variables)):
        np.testing.assert_array_equal(v, u)
    assert not np.allclose(_values(_cnn().variables)[0], _values(model.base_model.variables)[0])


def test_mixed_bfloat16_base_model_trains_in_bfloat16():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        base = _cnn()
    finally:
        keras.mixed_precision.set_global_policy("float32")
    x, y, xm, ym = _data()
    model = fk.MetaReweighting(base, meta_data=(xm, ym), num_active=1, meta_batch_size=8)
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    history = _fit(model, x, y, 2)
    assert model.learner.precision.compute_dtype == tf.bfloat16
    assert all(v.dtype == "float32" for v in base.trainable_variables)  # master weights
    assert np.isfinite(history["loss"][0]) and np.isfinite(history["meta_loss"][0])
    assert base(x[:2], training=False).dtype == tf.bfloat16


def test_l2r_reuse_is_refused_at_compile():
    x, y, xm, ym = _data()
    model = fk.MetaReweighting(_cnn(), meta_data=(xm, ym), method="l2r", actual_step="reuse",
                               meta_batch_size=8)
    try:
        model.compile(optimizer=keras.optimizers.SGD(0.1))
    except ValueError as e:
        assert "reuse" in str(e) and "\n" not in str(e)
    else:
        raise AssertionError("L2R with actual_step='reuse' was accepted")
