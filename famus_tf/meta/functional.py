"""Forward passes of a Keras model on substituted weights.

The engine never writes to a model's variables outside the actual step. Every
forward pass goes through `model.stateless_call`, which takes the trainable and
non-trainable values as tensors and returns the outputs together with the new
non-trainable values (the BatchNorm moving statistics). Virtual and validation
passes drop those new values; only the actual step commits them.
"""
import tensorflow as tf

from famus_tf.meta import precision

ZERO = tf.UnconnectedGradients.ZERO


def trainable_values(model):
    """Current values of `model.trainable_variables`, as tensors."""
    return [v.value for v in model.trainable_variables]


def non_trainable_values(model):
    """Current values of `model.non_trainable_variables`, as tensors."""
    return [v.value for v in model.non_trainable_variables]


def forward(model, weights, non_trainable, images, training=True):
    """Logits of `model` at `weights`; returns (logits, new_non_trainable).

    With `training=True` BatchNorm uses the statistics of this batch, as the
    reference implementations do for the virtual and validation passes. Under a mixed
    precision policy the logits are cast to the weights' dtype, and with float16 loss
    scaling the gradients through this pass are scaled and unscaled (precision.py).
    """
    weights, logits_out = precision.forward_hooks(model, weights)
    logits, new_non_trainable = model.stateless_call(
        weights, non_trainable, images, training=training)
    return logits_out(logits), new_non_trainable


def per_example_ce(logits, labels):
    """Per-example cross-entropy for integer labels, computed in float32 or wider."""
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)


def soft_ce(logits, targets):
    """Per-example cross-entropy against soft targets: -sum t * log_softmax."""
    return -tf.reduce_sum(targets * tf.nn.log_softmax(logits), axis=-1)


def inner_gradient(tape, logits, weights, logit_grads):
    """Gradient of a training loss w.r.t. `weights`, given its gradient w.r.t. the logits.

    `tape` is the persistent tape that recorded the training forward pass. The
    training loss of every method is a function of the logits, so
    d loss / d w = J_w(logits)^T (d loss / d logits): one backward pass that can be
    repeated with other logit gradients (virtual step, second-order path,
    actual step) without repeating the forward pass. Unconnected weights get zeros.
    """
    return tape.gradient(logits, weights, output_gradients=logit_grads,
                         unconnected_gradients=ZERO)


def dot(a, b):
    """Sum of the element-wise product of two tensors of the same shape."""
    return tf.reduce_sum(a * b)


def sublayers(model):
    """Every layer inside `model` (nested models and layers held as attributes), once.

    A walk over public attributes only: a model's `layers`, and the Layer-valued
    attributes (or lists / tuples / dicts of them) of every other layer.
    """
    import keras
    seen, out, stack = {id(model)}, [], [model]
    while stack:
        layer = stack.pop()
        children = list(getattr(layer, "layers", None) or [])
        if not isinstance(layer, keras.Model):
            for name, value in vars(layer).items():
                if name.startswith("_"):
                    continue
                values = value.values() if isinstance(value, dict) else (
                    value if isinstance(value, (list, tuple)) else [value])
                children += [v for v in values if isinstance(v, keras.layers.Layer)]
        for child in children:
            if id(child) not in seen:
                seen.add(id(child))
                out.append(child)
                stack.append(child)
    return out
