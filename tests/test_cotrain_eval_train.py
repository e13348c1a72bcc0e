"""Per-example losses of every training example (famus_tf/cotrain/eval_train.py) equal a
direct evaluation-mode model call, in training-set order, on one device and on two
replicas of a MirroredStrategy (two logical CPUs, tests/conftest.py)."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from famus_tf.cotrain import eval_train
from famus_tf.train import distribute

N, C = 37, 4  # not a multiple of the batch size: the last batch is padded


def _model():
    keras.utils.set_random_seed(1)
    inp = keras.Input((6, 6, 1))
    h = keras.layers.Conv2D(3, 3, padding="same")(inp)
    h = keras.layers.BatchNormalization()(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    model = keras.Model(inp, keras.layers.Dense(C)(h))
    bn = model.layers[2]
    bn.moving_mean.assign([0.3, -0.2, 0.1])  # evaluation mode must use these statistics
    bn.moving_variance.assign([2.0, 0.5, 1.5])
    return model


def _data(seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (N, 6, 6, 1)).astype(np.uint8), rng.integers(0, C, N).astype(np.int64)


def _preprocess(x):
    return tf.cast(x, tf.float32) / 255.0 - 0.5


def _direct(model, images, labels, training=False):
    logits = model(_preprocess(images), training=training)
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits).numpy()


def test_losses_equal_a_direct_call_in_order():
    model = _model()
    images, labels = _data()
    got = eval_train.per_example_losses(model, (images, labels), _preprocess, batch_size=8)
    assert got.dtype == np.float64 and got.shape == (N,)
    np.testing.assert_allclose(got, _direct(model, images, labels), rtol=1e-5, atol=1e-6)
    assert not np.allclose(got, _direct(model, images, labels, training=True), atol=1e-3)


def test_a_given_dataset_in_any_order_with_missing_examples():
    model = _model()
    images, labels = _data(1)
    keep = np.setdiff1d(np.arange(N), [4, 30])
    ds = (tf.data.Dataset.from_tensor_slices((images[keep], labels[keep], keep))
          .shuffle(64, seed=0).batch(8))
    got = eval_train.per_example_losses(model, ds, _preprocess, num_examples=N, batch_size=8)
    assert np.isnan(got[[4, 30]]).all()
    np.testing.assert_allclose(got[keep], _direct(model, images, labels)[keep], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="num_examples"):
        eval_train.per_example_losses(model, ds, _preprocess, batch_size=8)


def test_two_replicas_equal_one_device():
    strategy = distribute.build_strategy("mirrored", distribute.logical_cpus(2))
    with strategy.scope():
        model = _model()
    images, labels = _data(2)
    got = eval_train.per_example_losses(model, (images, labels), _preprocess, batch_size=8,
                                        strategy=strategy)
    np.testing.assert_allclose(got, _direct(model, images, labels), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="multiple"):
        eval_train.per_example_losses(model, (images, labels), _preprocess, batch_size=7,
                                      strategy=strategy)


def test_a_loss_pass_traces_once_over_epochs():
    """The co-training loop keeps one LossPass per network: later epochs reuse the trace."""
    model = _model()
    images, labels = _data(3)
    loss_pass = eval_train.LossPass(model, _preprocess, batch_size=8)
    first = loss_pass((images, labels))
    model.layers[-1].bias.assign(model.layers[-1].bias + 0.5)  # the network moved on
    second = loss_pass((images[:20], labels[:20]), num_examples=20)
    assert loss_pass.step.experimental_get_tracing_count() == 1
    np.testing.assert_allclose(first, _direct(_model(), images, labels), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(second, _direct(model, images[:20], labels[:20]), rtol=1e-5, atol=1e-6)
