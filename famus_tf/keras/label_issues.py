"""`find_label_issues`: the suspects.csv table of the program, from Python.

For example i with given label y_i, p_i = softmax(f(x_i)) of the (base) model in
inference mode and w_i its meta-learned weight (MetaReweighting's weight store, when the
training batches carried example ids), the score is train/suspects.py's

    s_i = 1 - p_i,y_i * min(w_i, 1)     (w_i unknown: s_i = 1 - p_i,y_i),

and the rows come most suspect first (`suspects.rank`, the same function the program uses).
"""
import numpy as np
import tensorflow as tf

from famus_tf.keras import meta_data as meta_lib
from famus_tf.train import suspects

DTYPE = np.dtype([("rank", np.int64), ("index", np.int64), ("given", np.int64),
                  ("predicted", np.int64), ("p_given", np.float64), ("p_predicted", np.float64),
                  ("meta_weight", np.float64), ("score", np.float64)])


def find_label_issues(model, data, batch_size=256, meta_weight=None, top=None):
    """Ranked numpy structured array (fields of `DTYPE`) of the examples of `data`.

    model: a MetaReweighting (its base model scores; its store gives w_i) or any Keras
    model producing logits. data: a tf.data.Dataset of (x, y) or (x, y, example_id)
    (batched or not), or an (x, y) tuple; `index` is the example id, or the position.
    meta_weight: [N] weights by index to use instead of the model's store. top: keep the
    first `top` rows.
    """
    base = getattr(model, "base_model", model)
    if meta_weight is None and hasattr(model, "example_weights"):
        meta_weight = model.example_weights()
    if isinstance(data, tf.data.Dataset):
        spec = data.element_spec
        if not isinstance(spec, tuple) or len(spec) < 2:
            raise ValueError(f"find_label_issues: the dataset must yield (x, y[, id]), got {spec}")
        if spec[1].shape.rank == 0:
            data = data.batch(batch_size)
    else:
        x, y = meta_lib.as_arrays(data, "find_label_issues data")
        data = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)

    @tf.function(autograph=False)
    def probs_of(x):
        return tf.nn.softmax(tf.cast(base(x, training=False), tf.float32))

    labels, probs, index = [], [], []
    for element in data:
        labels.append(element[1].numpy().astype(np.int64))
        probs.append(probs_of(element[0]).numpy())
        index.append(element[2].numpy().astype(np.int64) if len(element) > 2 else None)
    labels, probs = np.concatenate(labels), np.concatenate(probs)
    if any(i is None for i in index):
        index = np.arange(len(labels), dtype=np.int64)
    else:
        index = np.concatenate(index)
    meta_lib.check_labels(labels, probs.shape[1], "find_label_issues labels")
    w = np.full(len(labels), np.nan)
    if meta_weight is not None:
        meta_weight = np.asarray(meta_weight, np.float64)
        known = index < len(meta_weight)
        w[known] = meta_weight[index[known]]
    order, score = suspects.rank(labels, probs, w)
    if top is not None:
        order = order[:top]
    out = np.zeros(len(order), DTYPE)
    rows = np.arange(len(labels))
    predicted = probs.argmax(1)
    out["rank"] = np.arange(1, len(order) + 1)
    out["index"], out["given"], out["predicted"] = index[order], labels[order], predicted[order]
    out["p_given"] = probs[rows, labels][order]
    out["p_predicted"] = probs[rows, predicted][order]
    out["meta_weight"], out["score"] = w[order], score[order]
    return out
