"""Evaluation on a held-out set: top-1, top-5 and mean loss."""
import tensorflow as tf
from absl import logging

from famus_tf.data import augment, pipeline


class Evaluator:
    def __init__(self, model, images, labels, mean, std, batch_size=256, decode_size=None,
                 crop=None):
        """`decode_size`: images are file paths, decoded to that size; `crop`: center crop."""
        self.model = model
        self.dataset = pipeline.eval_stream((images, labels), batch_size, decode_size)
        dtype = model.trainable_variables[0].dtype

        def batch_stats(x, y):
            if crop:
                x = augment.center_crop(x, crop)
            logits = model(pipeline.preprocess(x, mean, std, dtype), training=False)
            k = min(5, logits.shape[-1])
            top5 = tf.reduce_sum(tf.cast(tf.math.in_top_k(y, tf.cast(logits, tf.float32), k), tf.float64))
            top1 = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(logits, -1, output_type=y.dtype), y), tf.float64))
            loss = tf.reduce_sum(tf.cast(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits), tf.float64))
            return top1, top5, loss, tf.cast(tf.shape(y)[0], tf.float64)

        self._batch = tf.function(batch_stats, autograph=False)
        self.count = len(labels)

    def run(self):
        """Top-1, top-5 and mean loss over the images evaluated (unreadable files skipped)."""
        total = [0.0, 0.0, 0.0, 0.0]
        for x, y in self.dataset:
            for k, v in enumerate(self._batch(x, y)):
                total[k] += float(v)
        n = max(total[3], 1.0)
        if int(total[3]) < self.count:
            logging.warning("evaluated %d of %d images: %d unreadable file(s) skipped (named above)",
                            int(total[3]), self.count, self.count - int(total[3]))
        return {"top1": total[0] / n, "top5": total[1] / n, "loss": total[2] / n, "count": int(total[3])}
