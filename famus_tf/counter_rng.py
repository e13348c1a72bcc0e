"""Counter-based uniform noise that is identical in eager, tf.function and XLA.

TensorFlow's stateless random ops give different numbers under XLA than with the
CPU/GPU kernels, so a step would make different sampler decisions when compiled.
The gates need noise that depends only on (step, seed, index): the same on every
replica, after a restart, and with or without `jit_compile`. This is a 32-bit
integer hash (the "lowbias32" mixer) of a counter, written with TF integer ops.
"""
import tensorflow as tf

_M1 = 0x7FEB352D
_M2 = 0x846CA68B


def _mix(x):
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 16))
    x = x * tf.constant(_M1, tf.uint32)
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 15))
    x = x * tf.constant(_M2, tf.uint32)
    return tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 16))


def uniform(size, step, stream, dtype=tf.float32):
    """`size` uniforms in (0, 1), a function of the integer tensors `step` and `stream`."""
    key = _mix(_mix(tf.cast(step, tf.uint32)) ^ tf.cast(stream, tf.uint32) * tf.constant(0x9E3779B9, tf.uint32))
    counters = tf.cast(tf.range(size), tf.uint32) + key
    return (tf.cast(_mix(counters), dtype) + 0.5) / 4294967296.0
