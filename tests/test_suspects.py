"""suspects.csv against a reference written from its docstring: s_i = 1 - p_i,y_i *
min(w_i, 1) from the final network and the stored meta-learned weights (w_i = 1 where
unknown), most suspect first."""
import os

import keras
import numpy as np
from absl.testing import absltest

from famus_tf.data.prepared import Prepared
from famus_tf.train import suspects


def _data(n=37, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 5, 5, 1)).astype(np.uint8)
    labels = rng.integers(0, classes, n).astype(np.int64)
    empty = (images[:0], labels[:0])
    return Prepared("toy", classes, (5, 5, 1), (0.4,), (0.3,), images, labels, None, *empty, *empty)


class SuspectsTest(absltest.TestCase):

    def test_rows_match_the_reference(self):
        keras.utils.set_random_seed(0)
        data = _data()
        inputs = keras.Input((5, 5, 1))
        model = keras.Model(inputs, keras.layers.Dense(4, name="head_fc")(
            keras.layers.Flatten()(inputs)))
        x = (data.train_images / 255.0 - 0.4) / 0.3
        logits = model(x.astype(np.float32)).numpy().astype(np.float64)
        p = np.exp(logits - logits.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        y = data.train_labels
        stored = np.random.default_rng(1).uniform(0.0, 2.0, len(y))
        stored[::5] = np.nan  # never seen in a meta step
        for meta_weight in (None, stored):
            model_dir = self.create_tempdir().full_path
            rows = suspects.read_suspects(suspects.write_suspects(
                model_dir, model, data, batch_size=8, meta_weight=meta_weight))
            w = np.ones(len(y)) if meta_weight is None else np.nan_to_num(stored, nan=1.0)
            score = 1 - p[np.arange(len(y)), y] * np.minimum(w, 1.0)
            self.assertEqual([int(r["index"]) for r in rows],
                             list(np.argsort(-score, kind="stable")))
            for r in rows:
                i = int(r["index"])
                self.assertAlmostEqual(float(r["score"]), score[i], places=5)
                self.assertEqual(int(r["given"]), y[i])
                self.assertEqual(int(r["predicted"]), p[i].argmax())
                self.assertEqual(r["predicted_name"], str(p[i].argmax()))
                self.assertAlmostEqual(float(r["p_given"]), p[i, y[i]], places=5)
                self.assertAlmostEqual(float(r["p_predicted"]), p[i].max(), places=5)
                self.assertEqual(r["path"], "")
                if meta_weight is None or np.isnan(stored[i]):
                    self.assertEqual(r["meta_weight"], "")
                else:
                    self.assertAlmostEqual(float(r["meta_weight"]), stored[i], places=5)
            self.assertEqual(rows[0]["rank"], "1")
            self.assertEqual(len(rows), 37)
            self.assertTrue(os.path.isfile(os.path.join(model_dir, "suspects.csv")))

    def test_image_grid_places_images_row_major(self):
        images = np.arange(5 * 2 * 3 * 1, dtype=np.uint8).reshape(5, 2, 3, 1)
        grid = suspects.image_grid(images)
        self.assertEqual(grid.shape, (2 * 2, 3 * 3, 1))  # 5 images: 3 columns, 2 rows
        np.testing.assert_array_equal(grid[0:2, 3:6], images[1])
        np.testing.assert_array_equal(grid[2:4, 3:6], images[4])
        self.assertEqual(int(grid[2:4, 6:9].max()), 0)  # the empty sixth cell


if __name__ == "__main__":
    absltest.main()
