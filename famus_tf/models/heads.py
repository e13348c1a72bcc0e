"""Classifier heads: the linear head every model is built with, and the cosine head of
LDAM (Cao et al., NeurIPS 2019), which replaces it with `--head=cosine`.

  linear  z = W^T x + b (each model's own `head_fc` Dense layer).
  cosine  z_c = <x / ||x||, w_c / ||w_c||>, the cosine similarity of the features and
          each class's weight column, in [-1, 1], with no bias ("NormedLinear" of the
          LDAM-DRW code). The LDAM loss scales these by s = 30 after subtracting the
          margin (meta/losses.py); W starts as U(-1, 1) with unit-norm columns, as there.

`replace_head` swaps the head of a functional model built by this package: the new
layer is applied to the input of `head_fc`, so every other layer, its name and its
variable path stay the same, and the head's variables stay last in
`model.trainable_variables` under the `head` prefix the engine relies on.
"""
import keras
from keras import ops

HEADS = ("linear", "cosine")


def _unit_columns(init):
    def initializer(shape, dtype=None):
        w = init(shape, dtype=dtype)
        return w / ops.sqrt(ops.sum(ops.square(w), axis=0, keepdims=True))
    return initializer


class CosineLinear(keras.layers.Layer):
    """z = normalise(x) @ normalise_columns(W): cosine logits in [-1, 1]."""

    def __init__(self, units, epsilon=1e-12, **kwargs):
        super().__init__(**kwargs)
        self.units, self.epsilon = int(units), float(epsilon)

    def build(self, input_shape):
        self.kernel = self.add_weight(
            shape=(input_shape[-1], self.units), name="kernel",
            initializer=_unit_columns(keras.initializers.RandomUniform(-1.0, 1.0)))

    def call(self, x):
        x = x / ops.sqrt(ops.maximum(ops.sum(ops.square(x), axis=-1, keepdims=True), self.epsilon))
        w = self.kernel / ops.sqrt(ops.maximum(ops.sum(ops.square(self.kernel), axis=0,
                                                       keepdims=True), self.epsilon))
        return ops.matmul(x, w)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "epsilon": self.epsilon}


def replace_head(model, head, num_classes):
    """`model` with its `head_fc` replaced by the `head` classifier ('linear': unchanged)."""
    if head == "linear":
        return model
    if head != "cosine":
        raise ValueError(f"--head: expected one of {', '.join(HEADS)}, got {head!r}")
    features = model.get_layer("head_fc").input
    logits = CosineLinear(num_classes, name="head_cosine")(features)
    return keras.Model(model.input, logits, name=model.name)
