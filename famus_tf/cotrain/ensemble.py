"""The two networks' ensemble (official `test_model_ensembel`): the mean of their logits,

    z(x) = (z_1(x) + z_2(x)) / 2,

as one Keras model, so that the existing evaluator (train/evaluate.py) and exporter
(train/export.py: uint8 images in, logits and softmax probabilities out) serve it
unchanged. The ensemble shares the networks' variables (no copy).
"""
import keras


def average(models, image_shape):
    """A Keras model averaging the logits of `models` (all with the same input)."""
    dtype = models[0].trainable_variables[0].dtype
    images = keras.Input(shape=tuple(image_shape), dtype=dtype, name="images")
    for k, m in enumerate(models):  # distinct names in the graph (same architecture twice)
        m.name = f"net{k + 1}"
    logits = keras.layers.Average(dtype=dtype, name="mean_logits")([m(images) for m in models])
    return keras.Model(images, logits, name="ensemble")
