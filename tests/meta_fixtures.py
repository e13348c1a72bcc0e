"""Tiny float64 models and batches shared by the engine tests."""
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
