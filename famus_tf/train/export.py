"""SavedModel export of a trained base network, preprocessing included.

The serving signature takes images as the data set stores them (uint8 pixels,
[None, H, W, C]) and returns {'logits', 'probabilities'} (float32). Written with
`keras.export.ExportArchive`; reload with `tf.saved_model.load(path)` and call
`.signatures['serving_default'](images=...)`, or `load_serving` below.
"""
import json
import os

import keras
import tensorflow as tf

from famus_tf.data import pipeline


def export_classifier(model, export_dir, mean, std, image_shape, logit_scale=1.0):
    """Writes the SavedModel and export_info.json; returns export_dir. The served logits
    are the model's times `logit_scale` (the LDAM scale s for a cosine head)."""
    if os.path.isdir(export_dir) and os.listdir(export_dir) and \
            not os.path.exists(os.path.join(export_dir, "saved_model.pb")):
        raise FileExistsError(f"{export_dir} exists and is not a SavedModel export; not overwriting")
    dtype = model.trainable_variables[0].dtype

    def serve(images):
        # The signature's spec is not enforced when a loaded signature is called: check
        # rank, size and channels here, so that a wrong input is an InvalidArgumentError
        # of the call (naming the shape expected), never a kernel's crash.
        images = tf.ensure_shape(images, [None, *image_shape])
        logits = logit_scale * tf.cast(
            model(pipeline.preprocess(images, mean, std, dtype), training=False), tf.float32)
        return {"logits": logits, "probabilities": tf.nn.softmax(logits)}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", serve, input_signature=[
        tf.TensorSpec([None, *image_shape], tf.uint8, name="images")])
    archive.write_out(export_dir, verbose=False)
    info = {"mean": list(mean), "std": list(std), "image_shape": list(image_shape),
            "num_classes": int(model.output_shape[-1]), "logit_scale": float(logit_scale)}
    with open(os.path.join(export_dir, "export_info.json"), "w") as fh:
        json.dump(info, fh, indent=2)
    return export_dir


def load_serving(export_dir):
    """A callable: uint8 images -> {'logits', 'probabilities'}."""
    loaded = tf.saved_model.load(export_dir)
    fn = loaded.signatures["serving_default"]
    return lambda images: fn(images=tf.convert_to_tensor(images, tf.uint8))
