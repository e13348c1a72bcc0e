"""The MW-Net weighting network ("VNet") and the normalisation of its weights.

VNet = Dense(1 -> 100) -> ReLU -> Dense(100 -> 1) -> sigmoid, fed the stop-gradient
per-example training loss [MW-Net official code; FaMUS preresnet.py]. Both layers are
initialised as PyTorch's Linear, U(+-1/sqrt(fan_in)) for weights and biases
(torch_init.py), as in the reference code.
"""
import keras
import tensorflow as tf

from famus_tf.meta import replicas
from famus_tf.meta.torch_init import linear


def build_weighting_net(hidden=100, name="weighting_net"):
    """The weighting network: per-example loss [n, 1] -> weight in (0, 1) [n, 1]."""
    net = keras.Sequential([
        linear(hidden, 1, activation="relu", name="fc1"),
        linear(1, hidden, activation="sigmoid", name="fc2"),
    ], name=name)
    net.build((None, 1))
    return net


def example_weights(net, losses, normalise=True, weights=None):
    """Per-example weights v_i = VNet(stop_gradient(loss_i)), optionally v / sum(v).

    `weights` substitutes the network's trainable values (for a functional call);
    the sum (over the global batch under tf.distribute) is skipped when it is zero (the zero-sum guard of the
    reference code). Returns a [n] tensor in the dtype of `losses`.
    """
    inputs = tf.stop_gradient(losses)[:, None]
    if weights is None:
        v = net(inputs)
    else:
        v, _ = net.stateless_call(weights, [], inputs)
    v = tf.cast(tf.reshape(v, [-1]), losses.dtype)
    if normalise:
        total = replicas.all_sum(tf.reduce_sum(v))  # over the global batch
        v = v / tf.where(tf.equal(total, 0.0), tf.ones_like(total), total)
    return v
