"""Suspected label errors: MODEL_DIR/suspects.csv, written at the end of a run (and by
--export_only), every training example sorted most-suspect first.

One pass of the final network over the training set (no augmentation; a center crop
where the data set trains on crops) gives, for example i with given label y_i,
p_i = softmax(f(x_i)) and the predicted class  yhat_i = argmax_c p_ic. Its score is

    s_i = 1 - p_i,y_i ,

the probability the network puts on classes other than the given one: a network
trained with a noise-robust method (MW-Net, FaMUS) fits the correctly labelled
majority and gives a wrong label little probability, so wrong labels gather at the top.
With MW-Net the file also carries the meta-learned weight w_i = V(l_i; phi), the
weighting network applied to the example's training loss l_i = -log p_i,y_i (CE) under
the final network (un-normalised, in (0, 1)); where V decreases in the loss (as it
learns to on noisy data) sorting by w_i ascending gives the same order as s_i. Other
methods leave the weight column empty. Rows: rank, index (into the training set), path
(image files; empty for arrays), given and predicted label and class name, p_given,
p_predicted, weight, score. Unreadable image files are skipped (the pipeline names them).
With Algorithm 2 (--meta_set=pseudo_clean) the final network is the two networks'
ensemble (mean logits, as evaluated and exported), the weight column is empty (each
network has its own weighting network) and `clean_prob` is the last split's clean
probability, the mean of the two networks' GMM posteriors (empty where an example was
not evaluated, and for the one-network methods). The trainer says which network scores
and which clean probabilities exist (`Trainer.suspect_scoring`).
Each epoch TensorBoard shows the most suspect of a fixed sample of training examples
with their given and predicted classes (`summarise`).
"""
import csv
import os

import numpy as np
import tensorflow as tf
from absl import logging

from famus_tf.data import augment, images as images_lib, pipeline
from famus_tf.meta.weighting import example_weights

FILE = "suspects.csv"
COLUMNS = ("rank", "index", "path", "given", "given_name", "predicted", "predicted_name",
           "p_given", "p_predicted", "weight", "clean_prob", "score")


def score_examples(model, learner, data, batch_size, logit_scale=1.0, index=None):
    """{index, probs [n, C], weight [n] (NaN without MW-Net)} over the training set, or
    the training examples `index` (`logit_scale`: the LDAM scale s of a cosine head, as
    in the export)."""
    dtype = model.trainable_variables[0].dtype
    crop = data.image_shape[0] if data.decode_size else None
    net = getattr(learner.method, "net", None) if learner and learner.method is not None else None
    if index is None:
        index = np.arange(len(data.train_labels), dtype=np.int64)
    stream = pipeline.eval_stream((data.train_images[index], data.train_labels[index], index),
                                  batch_size, data.decode_size)

    @tf.function(autograph=False)
    def batch_scores(x, y):
        if crop:
            x = augment.center_crop(x, crop)
        logits = model(pipeline.preprocess(x, data.mean, data.std, dtype), training=False)
        probs = tf.nn.softmax(logit_scale * tf.cast(logits, tf.float32))
        if net is None:
            return probs, tf.fill(tf.shape(y), float("nan"))
        losses = learner.loss.per_example(logits, y)
        return probs, tf.cast(example_weights(net, losses, normalise=False), tf.float32)

    out = {"index": [], "probs": [], "weight": []}
    for x, y, i in stream:
        probs, weight = batch_scores(x, y)
        for k, v in (("index", i), ("probs", probs), ("weight", weight)):
            out[k].append(v.numpy())
    return {k: np.concatenate(v) if v else np.zeros((0,)) for k, v in out.items()}


def rank(labels, probs):
    """(order most-suspect first, score s_i = 1 - p_i,y_i) of given labels and probabilities."""
    score = 1.0 - probs[np.arange(len(labels)), labels]
    return np.argsort(-score, kind="stable"), score


def _scale(exp):
    return exp.meta.ldam_scale if exp.run.head == "cosine" else 1.0


def write_for(trainer):
    """Writes the suspects.csv of a finished training.loop.Trainer; returns its path."""
    exp = trainer.exp
    model, learner, clean_prob = trainer.suspect_scoring()
    path = write_suspects(exp.run.model_dir, model, learner, trainer.data,
                          exp.data.eval_batch_size, _scale(exp), clean_prob)
    logging.info("suspected label errors, most suspect first: %s", path)
    return path


def write_suspects(model_dir, model, learner, data, batch_size=256, logit_scale=1.0,
                   clean_prob=None):
    """Writes MODEL_DIR/suspects.csv; returns its path. `learner`: the MetaLearner whose
    weighting network gives the weight column (None: empty); `clean_prob`: [N] clean
    probabilities of the training examples (NaN: unknown) or None."""
    s = score_examples(model, learner, data, batch_size, logit_scale)
    labels = np.asarray(data.train_labels)[s["index"]]
    order, score = rank(labels, s["probs"])
    names = data.class_names or tuple(str(c) for c in range(data.num_classes))
    paths = data.train_images if data.train_images.dtype.kind in "US" else None
    path = os.path.join(model_dir, FILE)
    with open(path, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(COLUMNS)
        for r, j in enumerate(order, 1):
            i, p = int(s["index"][j]), s["probs"][j]
            y, pred = int(labels[j]), int(np.argmax(p))
            w = s["weight"][j]
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
    model, learner, _ = trainer.suspect_scoring()
    s = score_examples(model, learner, data, exp.data.eval_batch_size, _scale(exp), pick)
    labels = data.train_labels[s["index"]]
    order, score = rank(labels, s["probs"])
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
