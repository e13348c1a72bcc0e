"""FaMUS gradient samplers Gamma(.; eta_l) and their auxiliary losses (paper Sec. 4).

One sampler per gated parameter tensor. Its input is that tensor's stop-gradient
training gradient, averaged over every axis but the output (last, in Keras
layouts) axis and standardised over the output entries (paper Eq. 8; the code's
sum gives the same result after standardisation). Its output is a two-way
straight-through hard Gumbel-softmax: the forward value is exactly 0 or 1, the
backward pass sees the soft sample.

Architecture: paper = Dense(128) -> PReLU -> Dense(2) ("two FC layers"); the
official code uses Dense(128) -> PReLU -> Dense(128) -> PReLU -> Dense(2)
(`sampler_depth='code'`). Initialisers follow PyTorch's Linear defaults,
U(+-1/sqrt(fan_in)) (torch_init.py), and PReLU's single slope starts at 0.25, as in the code.
"""
import math

import keras
import tensorflow as tf

from famus_tf import counter_rng
from famus_tf.meta.torch_init import linear


def build_sampler(input_dim, hidden=128, depth="paper", name="sampler"):
    """One gradient sampler: [1, input_dim] -> 2 logits (off, on)."""
    if depth not in ("paper", "code"):
        raise ValueError(f"sampler depth must be 'paper' or 'code', got {depth!r}")
    layers = []
    fan_in = input_dim
    for i in range(1 if depth == "paper" else 2):
        layers += [
            linear(hidden, fan_in, name=f"fc{i + 1}"),
            keras.layers.PReLU(alpha_initializer=keras.initializers.Constant(0.25),
                               shared_axes=[1], name=f"prelu{i + 1}"),
        ]
        fan_in = hidden
    layers.append(linear(2, fan_in, name="out"))
    net = keras.Sequential(layers, name=name)
    net.build((None, input_dim))
    return net


def output_dim(shape):
    """Size of the sampler input for a parameter tensor of this shape."""
    return int(shape[-1]) if len(shape) else 1


def pooled_gradient(grad):
    """[1, D_out] standardised average of a gradient over all but its last axis."""
    g = tf.reshape(grad, [-1, output_dim(grad.shape)])
    g = tf.reduce_mean(g, axis=0, keepdims=True)
    n = g.shape[-1]
    mean = tf.reduce_mean(g)
    std = tf.math.reduce_std(g)
    if n > 1:
        std = std * math.sqrt(n / (n - 1.0))  # PyTorch's unbiased std, as in the code
    return tf.stop_gradient((g - mean) / (std + 1e-9))


def straight_through_gumbel(logits, tau, step, stream):
    """Hard straight-through Gumbel-softmax over two logits; returns r in {0, 1}.

    The noise is a function of (step, stream) only (counter_rng): the same decision on
    every replica, after a restart, and with or without XLA.
    """
    u = counter_rng.uniform(2, step, stream, logits.dtype)
    gumbel = -tf.math.log(-tf.math.log(u + 1e-20) + 1e-20)
    soft = tf.nn.softmax((logits + gumbel) / tau, axis=-1)
    hard = tf.one_hot(tf.argmax(soft, axis=-1), 2, dtype=soft.dtype)
    return tf.reshape((tf.stop_gradient(hard - soft) + soft)[..., 1], [])


def on_probability(logits):
    """P(r = 1) of `straight_through_gumbel` for these two logits: softmax(logits)[1].

    The hard forward value is argmax((logits + G) / tau) = argmax(logits + G) with G
    i.i.d. Gumbel(0, 1), and by the Gumbel-max trick P(argmax = 1) = softmax(logits)[1],
    whatever the temperature tau (tau changes only the soft sample that the
    straight-through backward pass sees). Returned as a stop-gradient scalar.
    """
    return tf.stop_gradient(tf.nn.softmax(tf.reshape(logits, [-1]))[1])


def gate_count_loss(gates, num_active, mode="paper"):
    """L_r (Eq. 10): (sum_l r_l - K)^2; `mode='code'` uses the last gate only,
    which is what the released code computes (see docs/ALGORITHM notes)."""
    if mode == "paper":
        total = tf.add_n(gates)
    elif mode == "code":
        total = gates[-1]
    else:
        raise ValueError(f"L_r mode must be 'paper' or 'code', got {mode!r}")
    return tf.square(total - num_active)


def _moments(x):
    """Mean and unbiased std over axis 0 of a 2-D tensor (per column)."""
    n = tf.cast(tf.shape(x)[0], x.dtype)
    mean = tf.reduce_mean(x, axis=0, keepdims=True)
    var = tf.reduce_sum(tf.square(x - mean), axis=0) / tf.maximum(n - 1.0, 1.0)
    return mean[0], tf.sqrt(var + 1e-12)


def gradient_match_loss(train_grads, val_grads, mode="paper"):
    """L_g between training and (stop-gradient) validation gradients of the head.

    paper (Eq. 11): sum over head tensors of ||AvgPool(g_train) - AvgPool(g_val)||^2.
    code: per-output-column mean and unbiased std matching for kernels, scalar mean/std
    for biases, averaged over columns and summed over tensors.
    """
    terms = []
    for gt, gv in zip(train_grads, val_grads):
        gv = tf.stop_gradient(gv)
        if mode == "paper":
            d = output_dim(gt.shape)
            pt = tf.reduce_mean(tf.reshape(gt, [-1, d]), axis=0)
            pv = tf.reduce_mean(tf.reshape(gv, [-1, d]), axis=0)
            terms.append(tf.reduce_sum(tf.square(pt - pv)))
        elif mode == "code":
            # Kernels: moments per output column; biases: one mean/std over all entries.
            cols = output_dim(gt.shape) if len(gt.shape) > 1 else 1
            mt, st = _moments(tf.reshape(gt, [-1, cols]))
            mv, sv = _moments(tf.reshape(gv, [-1, cols]))
            terms.append(tf.reduce_mean(tf.square(mt - mv) + tf.square(st - sv)))
        else:
            raise ValueError(f"L_g mode must be 'paper' or 'code', got {mode!r}")
    return tf.add_n(terms)
