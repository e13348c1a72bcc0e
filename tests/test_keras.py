"""famus_tf.keras: fit equals the engine's step, Keras' machinery works, bad input is named.

The equality tests run the wrapper's `fit` and `MetaLearner.train_step` (meta/step.py)
from the same seeds on the same model, batch and meta batch; the float32 bounds (1e-6 on
the network and the meta model, 1e-3 of their update on the samplers) hold with
TF_ENABLE_ONEDNN_OPTS=0 and =1 (one step, a few hundred parameters). The strategy
test is float64 (as tests/test_distribute.py), where oneDNN does not take part.
"""
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import famus_tf.keras as fk
from famus_tf.config import MetaConfig, OptimConfig
from famus_tf.meta.step import MetaLearner, compiled_step
from tests import meta_fixtures as mf

C = 4


def _data(n=64, m=16, seed=0, dtype="float32"):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, C, n)
    x = (rng.normal(size=(n, 6, 6, 1)) + y[:, None, None, None]).astype(dtype)
    ym = np.arange(m) % C
    xm = (rng.normal(size=(m, 6, 6, 1)) + ym[:, None, None, None]).astype(dtype)
    return x, y, xm, ym


def _cnn(seed=1):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((6, 6, 1)),
                             keras.layers.Conv2D(4, 3, use_bias=False, name="conv"),
                             keras.layers.BatchNormalization(name="bn"), keras.layers.ReLU(),
                             keras.layers.GlobalAveragePooling2D(),
                             keras.layers.Dense(8, activation="relu", name="fc"),
                             keras.layers.Dense(C, name="head")])


OPTIONS = dict(num_active=1, meta_lr=0.5, lambda_g=0.1)


def _wrapper(famus=True, meta_batch_size=8, dtype="float32", **kw):
    x, y, xm, ym = _data(dtype=dtype)
    model = fk.MetaReweighting(_cnn(), meta_data=(xm, ym), famus=famus,
                               meta_batch_size=meta_batch_size, seed=3, **OPTIONS, **kw)
    keras.utils.set_random_seed(2)
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
                  metrics=["accuracy"])
    return model, (x, y, xm, ym)


def _values(variables):
    return [np.array(v.numpy()) for v in variables]


@pytest.mark.parametrize("famus", [True, False])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_one_fit_step_equals_one_meta_learner_step(famus, dtype):
    if dtype == "float64":
        mf.float64()
    try:
        _one_step(famus, dtype)
    finally:
        mf.float32()


# the other methods and the program's FaMUS options, each through fit (float64, for the
# tighter bounds; the float32 bounds of _one_step hold for them too)
OTHERS = [dict(method="l2r"), dict(method="mlc"), dict(method="mlc", famus=False),
          dict(actual_step="reuse", gate_weighting="inverse_prob")]


@pytest.mark.parametrize("options", OTHERS, ids=lambda o: "-".join(map(str, o.values())))
def test_other_methods_and_options_step_as_the_engine(options):
    options = dict(options)
    mf.float64()
    try:
        _one_step(options.pop("famus", True), "float64", **options)
    finally:
        mf.float32()


def _one_step(famus, dtype, method="mwnet", **extra):
    model, (x, y, xm, ym) = _wrapper(famus, dtype=dtype, method=method, **extra)
    assert all(getattr(model.learner.meta, k) == v for k, v in extra.items())
    idx = model.meta_stream.indices(0).numpy()
    sampler_start = [_values(t.variables) for t in model.learner.samplers]
    history = model.fit(x[:16], y[:16], batch_size=16, epochs=1, shuffle=False, verbose=0).history

    base = _cnn()
    keras.utils.set_random_seed(2)
    head = base.trainable_variables[-1].path[:-len("kernel")]  # this Sequential's 'head/'
    learner = MetaLearner(base, C, MetaConfig(method=method, famus=famus, head_prefix=head,
                                              seed=3, **OPTIONS, **extra),
                          OptimConfig(lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4))
    out = compiled_step(learner)(tf.constant(x[:16]), tf.constant(y[:16], tf.int64),
                           tf.constant(xm[idx]), tf.constant(ym[idx], tf.int64))
    got, want = model.learner, learner
    tol = 1e-6 if dtype == "float32" else 1e-10
    # The samplers' update is a product of meta-gradients (<u_l, g_l> per tensor): its
    # rounding is large next to the step's, so each tensor's difference is bounded
    # relative to the largest tensor update of the samplers. (The conv has no bias: a bias
    # before BatchNorm has a zero gradient, which standardised (Eq. 8) is pure rounding
    # noise, and its sampler's update is then not reproducible between two graphs.)
    sampler_tol = 1e-3 if dtype == "float32" else 1e-6
    assert int(got.optimizer.iterations.numpy()) == 1
    for key, name in (("loss", "loss"), ("accuracy", "accuracy"), ("val_loss", "meta_loss")):
        if key not in out:
            continue
        np.testing.assert_allclose(history[name][0], out[key].numpy(), rtol=tol)
    for a, b in zip(_values(base.variables), _values(model.base_model.variables)):
        np.testing.assert_allclose(b, a, rtol=tol, atol=tol)
    for a, b in zip(_values(want.method.meta_variables), _values(got.method.meta_variables)):
        np.testing.assert_allclose(b, a, rtol=tol, atol=tol)
    gated = len(base.trainable_variables) - 2  # every trainable tensor but the head's two
    assert len(want.samplers) == len(got.samplers) == (gated if famus else 0)
    assert len(want.method.meta_variables) == len(got.method.meta_variables) > 0 or \
        method == "l2r"
    pairs = [(a, b, a0) for s, t, start in zip(want.samplers, got.samplers, sampler_start)
             for a, b, a0 in zip(_values(s.variables), _values(t.variables), start)]
    update = max([np.linalg.norm(a - a0) for a, _, a0 in pairs], default=0.0)
    assert update > 0 or not famus  # the step trained the samplers
    for a, b, _ in pairs:
        assert np.linalg.norm(b - a) <= sampler_tol * update, (np.linalg.norm(b - a), update)
    # the step moved the network: equality is not that of two untouched copies
    assert not np.allclose(_values(_cnn().variables)[0], _values(base.variables)[0])


def test_history_validation_and_weight_store():
    model, (x, y, xm, ym) = _wrapper(True)
    ds = tf.data.Dataset.from_tensor_slices((x, y, np.arange(len(y)))).batch(16)
    history = model.fit(ds, epochs=2, validation_data=(xm, ym), verbose=0)
    keys = set(history.history)
    for k in ("loss", "accuracy", "meta_loss", "mean_weight", "weight_std", "gate_fraction",
              "loss_r", "loss_g", "val_loss", "val_accuracy"):
        assert k in keys, k
        assert len(history.history[k]) == 2 and np.isfinite(history.history[k]).all()
    np.testing.assert_allclose(history.history["mean_weight"], 1.0, rtol=1e-5)  # normalised
    gate = history.history["gate_fraction"]
    assert all(0.0 <= g <= 1.0 for g in gate)
    w = model.example_weights()
    assert w.shape == (len(y),) and np.isfinite(w).all() and (w >= 0).all()
    assert abs(w.mean() - 1.0) < 0.05 and w.std() > 0
    assert model.store.counts.numpy().tolist() == [2] * len(y)  # two epochs, each once
    logits = model.predict(xm, verbose=0)
    np.testing.assert_allclose(logits, model.base_model(xm, training=False), rtol=1e-5, atol=1e-6)
    result = model.evaluate(xm, ym, verbose=0, return_dict=True)
    acc = np.mean(np.argmax(logits, -1) == ym)
    assert abs(result["accuracy"] - acc) < 1e-6


class Interrupt(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1:
            raise KeyboardInterrupt("killed")


def test_backup_and_restore_resumes_exactly_with_the_weight_store(tmp_path):
    def run(callbacks):
        model, (x, y, _, _) = _wrapper(True, meta_batch_size=6)
        ds = tf.data.Dataset.from_tensor_slices((x, y, np.arange(len(y)))).batch(16)
        model.fit(ds, epochs=3, callbacks=callbacks, verbose=0)
        return model

    straight = run([])
    with pytest.raises(KeyboardInterrupt):
        run([keras.callbacks.BackupAndRestore(str(tmp_path / "backup")), Interrupt()])
    resumed = run([keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))])
    assert int(resumed.optimizer.iterations.numpy()) == 3 * 4
    for s, r in [(straight, resumed),
                 (straight.learner.meta_optimizer, resumed.learner.meta_optimizer),
                 (straight.learner.sampler_optimizer, resumed.learner.sampler_optimizer)]:
        for a, b in zip(_values(s.variables), _values(r.variables)):
            np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-7)
    n = len(straight.example_weights())
    assert resumed.store.counts.numpy().tolist() == [3] * n  # epoch 1 restored, 2 and 3 run
    np.testing.assert_allclose(resumed.store.values.numpy(), straight.store.values.numpy(),
                               rtol=1e-6, atol=1e-7)
    # the weights file carries the store into a model that has not trained
    path = str(tmp_path / "model.weights.h5")
    resumed.save_weights(path)
    fresh, _ = _wrapper(True, meta_batch_size=6)
    assert fresh.example_weights() is None
    fresh.load_weights(path)
    np.testing.assert_array_equal(fresh.example_weights(), resumed.example_weights())
    np.testing.assert_array_equal(fresh.store.counts.numpy(), resumed.store.counts.numpy())
    x, y, _, _ = _data()
    more = tf.data.Dataset.from_tensor_slices((x, y, np.arange(len(y)) + n)).batch(16)
    assert f"outside the weight store of {n}" in _error(lambda: fresh.fit(more, verbose=0))


def test_evaluate_returns_loss_and_each_metric_once():
    top2 = lambda: keras.metrics.SparseTopKCategoricalAccuracy(k=2, name="top2")
    x, y, xm, ym = _data()
    for metrics in (None, ["accuracy"], [top2(), "accuracy"]):
        model = fk.MetaReweighting(_cnn(), meta_data=(xm, ym), meta_batch_size=8, famus=False)
        model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), metrics=metrics)
        model.fit(x[:16], y[:16], batch_size=16, epochs=1, verbose=0)
        plain = _cnn()
        plain.set_weights(model.base_model.get_weights())
        plain.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=None if metrics is None else [top2() if m != "accuracy" else m
                                                            for m in metrics])
        got, want = model.evaluate(xm, ym, verbose=0), plain.evaluate(xm, ym, verbose=0)
        assert np.shape(got) == np.shape(want) == ((1 + len(metrics),) if metrics else ())
        np.testing.assert_allclose(got, want, rtol=1e-6)
        logs = model.evaluate(xm, ym, verbose=0, return_dict=True)
        assert set(logs) == {"loss"} | {getattr(m, "name", m) for m in metrics or []}
        np.testing.assert_allclose(np.atleast_1d(got)[0], logs["loss"], rtol=1e-6)
        assert len(set(model.metrics_names)) == len(model.metrics) - 1  # 'loss' twice: the
        # training tracker and Keras' evaluation loss tracker, each once


class SubclassedBN(keras.Model):
    def __init__(self):
        super().__init__()
        self.conv = keras.layers.Conv2D(4, 3, use_bias=False, name="conv")
        self.bn = keras.layers.BatchNormalization(name="bn")
        self.pool = keras.layers.GlobalAveragePooling2D()
        self.head = keras.layers.Dense(C, name="head")

    def call(self, x, training=False):
        return self.head(self.pool(tf.nn.relu(self.bn(self.conv(x), training=training))))


def test_subclassed_batchnorm_under_mirrored_equals_one_device():
    mf.float64()
    try:
        x, y, xm, ym = _data(dtype="float64")

        def train(strategy):
            with strategy.scope():
                keras.utils.set_random_seed(5)
                base = SubclassedBN()
                base(x[:1])
                model = fk.MetaReweighting(base, meta_data=(xm, ym), meta_batch_size=8, seed=3,
                                           **OPTIONS)
                keras.utils.set_random_seed(2)
                model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
            ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
            history = model.fit(ds, epochs=1, verbose=0)
            return model, history.history

        mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        assert mirrored.num_replicas_in_sync == 2
        one, h1 = train(tf.distribute.get_strategy())
        two, h2 = train(mirrored)
        assert int(two.optimizer.iterations.numpy()) == 4
        def groups(m):
            learner = m.learner
            return (list(m.base_model.variables) + list(learner.method.meta_variables)
                    + list(m.optimizer.variables), learner.sampler_variables)

        (net1, samp1), (net2, samp2) = groups(one), groups(two)
        assert len(samp1) == len(samp2) > 0
        for a, b in zip(_values(net1), _values(net2)):
            np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12)
        for a, b in zip(_values(samp1), _values(samp2)):  # see test_one_fit_step_...
            np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-9)
        for k in ("loss", "accuracy", "meta_loss", "gate_fraction"):
            np.testing.assert_allclose(h2[k], h1[k], rtol=1e-9, atol=1e-12)
    finally:
        mf.float32()


def _error(fn):
    with pytest.raises(ValueError) as e:
        fn()
    return str(e.value)


def test_bad_input_is_named_before_training():
    x, y, xm, ym = _data()
    unbuilt = keras.Sequential([keras.layers.Dense(C)])
    assert "not built" in _error(lambda: fk.MetaReweighting(unbuilt, (xm, ym)))
    assert "class(es) [3]" in _error(lambda: fk.MetaReweighting(_cnn(), (xm[ym < 3], ym[ym < 3])))
    assert "shape (5, 5, 1)" in _error(lambda: fk.MetaReweighting(_cnn(), (xm[:, :5, :5], ym),
                                                                   meta_batch_size=8))
    soft = keras.Sequential([_cnn(), keras.layers.Softmax()])
    assert "softmax" in _error(lambda: fk.MetaReweighting(soft, (xm, ym)))
    assert "pseudo_clean" in _error(lambda: fk.MetaReweighting(_cnn(), "pseudo_clean"))
    assert "outside [0, 4)" in _error(lambda: fk.MetaReweighting(_cnn(), (xm, ym + 1)))
    model, _ = _wrapper(True)
    bad = y.copy()
    bad[7] = C
    assert "label 4 at position 7" in _error(lambda: model.fit(x, bad, verbose=0))
    no_labels = tf.data.Dataset.from_tensor_slices(x).batch(8)
    assert "(x, y)" in _error(lambda: model.fit(no_labels, verbose=0))
    assert "SGD" in _error(lambda: model.compile(optimizer=keras.optimizers.Adam()))
    assert int(model.optimizer.iterations.numpy()) == 0  # nothing trained


def test_find_label_issues_ranks_a_flipped_label_first():
    x, y, xm, ym = _data(n=96)
    x = x * 3.0
    xm = xm * 3.0
    noisy = y.copy()
    noisy[11] = (y[11] + 2) % C
    model = fk.MetaReweighting(_cnn(), meta_data=(xm, ym), meta_batch_size=8, famus=False)
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    ds = tf.data.Dataset.from_tensor_slices((x, noisy, np.arange(len(y)))).batch(16)
    model.fit(ds, epochs=8, verbose=0)
    table = fk.find_label_issues(model, ds)
    assert table["index"][0] == 11 and table["given"][0] == noisy[11]
    assert table["rank"].tolist() == list(range(1, len(y) + 1))
    assert np.all(np.diff(table["score"]) <= 0)
    np.testing.assert_allclose(table["score"], 1 - table["p_given"] * np.minimum(
        table["meta_weight"], 1), rtol=1e-12)
    assert len(fk.find_label_issues(model, (x, noisy), top=5)) == 5
