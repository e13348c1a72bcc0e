"""Suspected label errors: MODEL_DIR/suspects.csv, written at the end of a run (and by
--export_only), every training example sorted most-suspect first.

One pass of the final network over the training set (no augmentation; a center crop
where the data set trains on crops) gives, for example i with given label y_i,
p_i = softmax(f(x_i)) and the predicted class  yhat_i = argmax_c p_ic. With the
meta-learned weight w_i of the run's weight store (train/weight_store.py: the mean of
B * v_i over the example's last 5 appearances in a meta step, 1 = the uniform weight of
plain training) its score is

    s_i = 1 - p_i,y_i * min(w_i, 1) ,

one minus the trust in the given label: the final network's probability of it, times
the weight the meta-learner gave the example relative to uniform, capped at 1 (a weight
above uniform adds no trust; a weight far below uniform, an example the meta-learner
learned to ignore, is suspect even where the final network has fitted its label). A
network trained with a noise-robust method (MW-Net, FaMUS) fits the correctly labelled
majority and gives a wrong label little probability, so wrong labels gather at the top.
Where no weight is known (w_i empty: MLC and plain training keep no store, Algorithm 2
weighs mixed rows, or the example never appeared in a meta step) s_i = 1 - p_i,y_i.
On the digits folder of tests/test_own_data_run.py (40% wrong labels, 3 epochs) the
weighting network has not yet learned to decrease in the loss (w_i 0.86-1.20, higher for
the wrong labels) and the weight changes little: the top 5/10/20% are 1.00/0.99/0.98
wrong labels, as with 1 - p_i,y_i alone (docs/datasets.md, "Your own data").

Rows: rank, index (into the training set), path (image files; empty for arrays), given
and predicted label and class name, p_given, p_predicted, meta_weight (w_i, empty where
unknown), clean_prob, score. Unreadable image files are skipped (the pipeline names
them). With Algorithm 2 (--meta_set=pseudo_clean) the final network is the two networks'
ensemble (mean logits, as evaluated and exported), meta_weight is empty (its meta step
weighs MixUp-mixed rows lambda' x_i + (1 - lambda') x_j, not examples) and `clean_prob`
is the last split's clean probability, the mean of the two networks' GMM posteriors
(empty where an example was not evaluated, and for the one-network methods). The
trainer says which network scores and which weights and clean probabilities exist
(`Trainer.suspect_scoring`).
Each epoch TensorBoard shows the most suspect of a fixed sample of training examples
with their given and predicted classes (`summarise`).
"""
import csv
import os

import numpy as np
import tensorflow as tf
from absl import logging

from famus_tf.data import augment, images as images_lib, pipeline

FILE = "suspects.csv"
COLUMNS = ("rank", "index", "path", "given", "given_name", "predicted", "predicted_name",
           "p_given", "p_predicted", "meta_weight", "clean_prob", "score")


def score_examples(model, data, batch_size, logit_scale=1.0, index=None):
    """{index, probs [n, C]} over the training set, or the training examples `index`
    (`logit_scale`: the LDAM scale s of a cosine head, as in the export)."""
    dtype = model.trainable_variables[0].dtype
    crop = data.image_shape[0] if data.decode_size else None
    if index is None:
        index = np.arange(len(data.train_labels), dtype=np.int64)
    stream = pipeline.eval_stream((data.train_images[index], data.train_labels[index], index),
                                  batch_size, data.decode_size)

    @tf.function(autograph=False)
    def batch_probs(x):
        if crop:
            x = augment.center_crop(x, crop)
        logits = model(pipeline.preprocess(x, data.mean, data.std, dtype), training=False)
        return tf.nn.softmax(logit_scale * tf.cast(logits, tf.float32))

    out = {"index": [], "probs": []}
    for x, _, i in stream:
        out["index"].append(i.numpy())
        out["probs"].append(batch_probs(x).numpy())
    return {k: np.concatenate(v) if v else np.zeros((0,)) for k, v in out.items()}


def rank(labels, probs, meta_weight=None):
    """(order most-suspect first, score s_i = 1 - p_i,y_i * min(w_i, 1)) of given labels,
    probabilities and meta-learned weights (None or NaN: w_i taken as 1)."""
    trust = probs[np.arange(len(labels)), labels].astype(np.float64)
    if meta_weight is not None:
        w = np.asarray(meta_weight, np.float64)
        trust = trust * np.where(np.isnan(w), 1.0, np.minimum(w, 1.0))
    score = 1.0 - trust
    return np.argsort(-score, kind="stable"), score


def _scale(exp):
    return exp.meta.ldam_scale if exp.run.head == "cosine" else 1.0


def write_for(trainer):
    """Writes the suspects.csv of a finished training.loop.Trainer; returns its path."""
    exp = trainer.exp
    model, meta_weight, clean_prob = trainer.suspect_scoring()
    path = write_suspects(exp.run.model_dir, model, trainer.data, exp.data.eval_batch_size,
                          _scale(exp), meta_weight, clean_prob)
    logging.info("suspected label errors, most suspect first: %s", path)
    return path


def write_suspects(model_dir, model, data, batch_size=256, logit_scale=1.0, meta_weight=None,
                   clean_prob=None):
    """Writes MODEL_DIR/suspects.csv; returns its path. `meta_weight`: [N] the weight
    store's means (train/weight_store.py; NaN: never seen) or None (column empty);
    `clean_prob`: [N] clean probabilities of the training examples (NaN: unknown) or None."""
    s = score_examples(model, data, batch_size, logit_scale)
    labels = np.asarray(data.train_labels)[s["index"]]
    order, score = rank(labels, s["probs"],
                        None if meta_weight is None else meta_weight[s["index"]])
    names = data.class_names or tuple(str(c) for c in range(data.num_classes))
    paths = data.train_images if data.train_images.dtype.kind in "US" else None
    path = os.path.join(model_dir, FILE)
    with open(path, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(COLUMNS)
        for r, j in enumerate(order, 1):
            i, p = int(s["index"][j]), s["probs"][j]
            y, pred = int(labels[j]), int(np.argmax(p))
            w = np.nan if meta_weight is None else meta_weight[i]
            c = np.nan if clean_prob is None else clean_prob[i]
            out.writerow([r, i, "" if paths is None else str(paths[i]), y, names[y], pred,
                          names[pred], f"{p[y]:.6f}", f"{p[pred]:.6f}", _optional(w),
                          _optional(c), f"{score[j]:.6f}"])
    return path


def _optional(value):
    return "" if np.isnan(value) else f"{value:.6f}"


def image_grid(images):
    """uint8 [k, h, w, c] -> one [rows*h, cols*w, c] image, cols = ceil(sqrt(k)), row-major."""
    k, h, w, c = images.shape
    cols = int(np.ceil(np.sqrt(k)))
    rows = -(-k // cols)
    grid = np.zeros((rows * h, cols * w, c), np.uint8)
    for j, img in enumerate(images):
        r, q = divmod(j, cols)
        grid[r * h:(r + 1) * h, q * w:(q + 1) * w] = img
    return grid


def summarise(trainer, step, sample=512, top=16):
    """TensorBoard, each epoch: 'suspects/top', a grid of the `top` most suspect of a
    fixed sample of `sample` training examples (drawn with the run's seed; row-major,
    most suspect first), and 'suspects/top_labels', their index, given and predicted
    class and score."""
    exp, data = trainer.exp, trainer.data
    if not trainer.summaries.enabled or not len(data.train_labels):
        return
    n = len(data.train_labels)
    pick = np.sort(np.random.default_rng(exp.run.seed).permutation(n)[:sample])
    model, meta_weight, _ = trainer.suspect_scoring()
    s = score_examples(model, data, exp.data.eval_batch_size, _scale(exp), pick)
    labels = data.train_labels[s["index"]]
    order, score = rank(labels, s["probs"],
                        None if meta_weight is None else meta_weight[s["index"]])
    chosen = order[:top]
    index = s["index"][chosen]
    if data.decode_size:
        pixels = np.stack([images_lib.decode(p, data.decode_size).numpy()
                           for p in data.train_images[index]])
    else:
        pixels = data.train_images[index]
    names = data.class_names or tuple(str(c) for c in range(data.num_classes))
    table = ["| rank | index | given | predicted | score |", "|---|---|---|---|---|"]
    table += [f"| {r} | {i} | {names[labels[j]]} | {names[int(np.argmax(s['probs'][j]))]} | "
              f"{score[j]:.3f} |" for r, (j, i) in enumerate(zip(chosen, index), 1)]
    with trainer.summaries.writer.as_default(step=int(step)):
        tf.summary.image("suspects/top", image_grid(np.asarray(pixels, np.uint8))[None])
        tf.summary.text("suspects/top_labels", "\n".join(table))


def read_suspects(path):
    """The rows of a suspects.csv as dicts, in file order (most suspect first)."""
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))
