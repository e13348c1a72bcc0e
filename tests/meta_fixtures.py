"""Tiny float64 models and batches shared by the engine tests, and a finite-difference
check."""
import keras
import numpy as np
import tensorflow as tf


def tiny_mlp(num_classes=4):
    inp = keras.Input((6,))
    h = keras.layers.Dense(8, activation="tanh", name="stage1_fc")(inp)
    h = keras.layers.Dense(8, activation="tanh", name="stage2_fc")(h)
    return keras.Model(inp, keras.layers.Dense(num_classes, name="head_fc")(h))


def tiny_cnn(num_classes=4):
    inp = keras.Input((6, 6, 1))
    h = keras.layers.Conv2D(4, 3, padding="same", use_bias=False, name="stage1_conv")(inp)
    h = keras.layers.BatchNormalization(name="stage1_bn")(h)
    h = keras.layers.Activation("tanh")(h)
    h = keras.layers.Conv2D(4, 3, padding="same", use_bias=False, name="stage2_conv")(h)
    h = keras.layers.BatchNormalization(name="stage2_bn")(h)
    h = keras.layers.Activation("tanh")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    return keras.Model(inp, keras.layers.Dense(num_classes, name="head_fc")(h))


MODELS = {"mlp": (tiny_mlp, (6,)), "cnn": (tiny_cnn, (6, 6, 1))}


def batches(input_shape, n=12, m=6, num_classes=4, seed=0):
    rng = np.random.default_rng(seed)
    x = tf.constant(rng.normal(size=(n,) + input_shape), tf.float64)
    y = tf.constant(rng.integers(0, num_classes, n), tf.int64)
    xv = tf.constant(rng.normal(size=(m,) + input_shape), tf.float64)
    yv = tf.constant(rng.integers(0, num_classes, m), tf.int64)
    return x, y, xv, yv


def float64():
    """Layers built from now on are float64 (Keras fixes the global dtype policy when the
    first layer is built, so set the policy as well as floatx)."""
    keras.config.set_floatx("float64")
    keras.config.set_dtype_policy("float64")


def float32():
    keras.config.set_floatx("float32")
    keras.config.set_dtype_policy("float32")


class Float64:
    """Test-case mixin: layers built in a test are float64 (restored to float32 after)."""

    def setUp(self):
        super().setUp()
        float64()

    def tearDown(self):
        float32()
        super().tearDown()


def central_difference(f, x0, direction, eps=1e-5):
    return (f(x0 + eps * direction) - f(x0 - eps * direction)) / (2 * eps)


def assert_directional_derivatives(grad, loss_at, x0, directions=3, seed=0, rtol=1e-5, atol=1e-10):
    """grad . d equals the central difference of `loss_at` at x0 along random directions d."""
    rng = np.random.default_rng(seed)
    for _ in range(directions):
        d = rng.normal(size=x0.shape)
        np.testing.assert_allclose(grad @ d, central_difference(loss_at, x0, d), rtol=rtol, atol=atol)

