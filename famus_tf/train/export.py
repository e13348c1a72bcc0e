"""SavedModel export of a trained base network, preprocessing included.

The serving signature takes images as the data set stores them (uint8 pixels,
[None, H, W, C]) and returns {'logits', 'probabilities'} (float32). With class names
(the folder and list data sets) it also returns 'predicted_name' (string [None], the
name of the top class) and 'class_names' (string [C]), and the export carries them
as the asset file assets/class_names.txt (line c: class c), which `load_class_names`
reads. Written with `keras.export.ExportArchive`; reload with `tf.saved_model.load(path)`
and call `.signatures['serving_default'](images=...)`, or `load_serving` below.
"""
import json
import os
import tempfile

import keras
import tensorflow as tf

from famus_tf.data import pipeline


CLASS_NAMES_FILE = "class_names.txt"


def write_class_names(directory, class_names):
    """Writes directory/class_names.txt (line c: class c's name) if there are names;
    returns its path or None."""
    if not class_names:
        return None
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, CLASS_NAMES_FILE)
    with open(path, "w") as fh:
        fh.writelines(f"{name}\n" for name in class_names)
    return path


def export_classifier(model, export_dir, mean, std, image_shape, logit_scale=1.0,
                      class_names=None):
    """Writes the SavedModel and export_info.json; returns export_dir. The served logits
    are the model's times `logit_scale` (the LDAM scale s for a cosine head);
    `class_names` (one per logit): also served, and stored as an asset."""
    if os.path.isdir(export_dir) and os.listdir(export_dir) and \
            not os.path.exists(os.path.join(export_dir, "saved_model.pb")):
        raise FileExistsError(f"{export_dir} exists and is not a SavedModel export; not overwriting")
    num_classes = int(model.output_shape[-1])
    if class_names is not None and len(class_names) != num_classes:
        raise ValueError(f"{len(class_names)} class names for {num_classes} outputs")
    dtype = model.trainable_variables[0].dtype

    archive = keras.export.ExportArchive()
    archive.track(model)
    with tempfile.TemporaryDirectory() as tmp:
        table = None
        if class_names is not None:  # a lookup table on the asset file, which the save copies
            table = tf.lookup.StaticHashTable(tf.lookup.TextFileInitializer(
                write_class_names(tmp, class_names), tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER,
                tf.string, tf.lookup.TextFileIndex.WHOLE_LINE), default_value="")
            archive.track(table)

        def serve(images):
            # The signature's spec is not enforced when a loaded signature is called: check
            # rank, size and channels here, so that a wrong input is an InvalidArgumentError
            # of the call (naming the shape expected), never a kernel's crash.
            images = tf.ensure_shape(images, [None, *image_shape])
            logits = logit_scale * tf.cast(
                model(pipeline.preprocess(images, mean, std, dtype), training=False), tf.float32)
            out = {"logits": logits, "probabilities": tf.nn.softmax(logits)}
            if table is not None:
                out.update(predicted_name=table.lookup(tf.argmax(logits, -1)),
                           class_names=table.lookup(tf.range(num_classes, dtype=tf.int64)))
            return out

        archive.add_endpoint("serve", serve, input_signature=[
            tf.TensorSpec([None, *image_shape], tf.uint8, name="images")])
        archive.write_out(export_dir, verbose=False)
    info = {"mean": list(mean), "std": list(std), "image_shape": list(image_shape),
            "num_classes": num_classes, "logit_scale": float(logit_scale)}
    if class_names is not None:
        info["class_names"] = list(class_names)
    with open(os.path.join(export_dir, "export_info.json"), "w") as fh:
        json.dump(info, fh, indent=2)
    return export_dir


def load_class_names(export_dir):
    """The class names of an export (its asset file), or None if it has none."""
    path = os.path.join(export_dir, "assets", CLASS_NAMES_FILE)
    if not os.path.isfile(path):
        return None
    with open(path) as fh:
        return [line.rstrip("\n") for line in fh]


def load_serving(export_dir):
    """A callable: uint8 images -> {'logits', 'probabilities'} (and, with class names,
    'predicted_name', 'class_names')."""
    loaded = tf.saved_model.load(export_dir)
    fn = loaded.signatures["serving_default"]
    return lambda images: fn(images=tf.convert_to_tensor(images, tf.uint8))
