"""--holdout_fraction: a stratified part of the noisy training set is held out, never
trained on, and evaluated every epoch against its given and its true labels."""
import json
import os

import numpy as np
from absl.testing import absltest

from famus_tf import aggregate
from famus_tf.config import DataConfig, NoiseConfig
from famus_tf.data import datasets
from famus_tf.data.prepared import Prepared, with_holdout
from tests.fixtures import run_main_in_process


def ids_prepared(n=400, classes=4, seed=0):
    """A Prepared whose image i is the number i (so rows can be traced) and whose noisy
    labels differ from the true ones on about a third of the rows."""
    rng = np.random.default_rng(seed)
    clean = rng.integers(0, classes, n)
    noisy = np.where(rng.random(n) < 0.3, rng.integers(0, classes, n), clean)
    return Prepared("ids", classes, (1,), (0.0,), (1.0,), np.arange(n), noisy, clean,
                    np.zeros(0), np.zeros(0, np.int64), np.arange(5), np.zeros(5, np.int64))


class HoldoutTest(absltest.TestCase):

    def test_stratified_disjoint_and_covering(self):
        data = ids_prepared()
        out = with_holdout(data, 0.25, seed=3)
        held_x, held_y = out.extra_tests["holdout"]
        true_x, true_y = out.extra_tests["holdout_true"]
        np.testing.assert_array_equal(held_x, true_x)
        # Disjoint from the training rows, together all of them, once each.
        self.assertEqual(len(np.intersect1d(held_x, out.train_images)), 0)
        np.testing.assert_array_equal(np.sort(np.concatenate([held_x, out.train_images])),
                                      np.arange(400))
        # Labels travel with their rows: given labels for `holdout`, true ones for `holdout_true`.
        np.testing.assert_array_equal(held_y, data.train_labels[held_x])
        np.testing.assert_array_equal(true_y, data.train_clean[held_x])
        np.testing.assert_array_equal(out.train_labels, data.train_labels[out.train_images])
        np.testing.assert_array_equal(out.train_clean, data.train_clean[out.train_images])
        # round(0.25 * n_c) of every given (noisy) class.
        counts = np.bincount(data.train_labels, minlength=4)
        np.testing.assert_array_equal(np.bincount(held_y, minlength=4), np.round(0.25 * counts))
        self.assertIs(with_holdout(data, 0.0, seed=3), data)
        unknown = with_holdout(Prepared(**{**data.__dict__, "train_clean": None}), 0.25, seed=3)
        self.assertEqual(sorted(unknown.extra_tests), ["holdout"])  # no true labels, no holdout_true

    def test_digits_prepare_holds_out_with_the_noise_seed(self):
        noise = NoiseConfig(rate=0.4, seed=1)
        whole = datasets.prepare(DataConfig(), noise)
        part = datasets.prepare(DataConfig(holdout_fraction=0.2), noise)
        held = len(part.extra_tests["holdout"][1])
        self.assertEqual(len(part.train_labels) + held, len(whole.train_labels))
        self.assertAlmostEqual(held / len(whole.train_labels), 0.2, delta=0.01)
        np.testing.assert_array_equal(part.test_labels, whole.test_labels)
        again = datasets.prepare(DataConfig(holdout_fraction=0.2), noise)
        np.testing.assert_array_equal(again.extra_tests["holdout"][0], part.extra_tests["holdout"][0])

    def test_a_run_reports_the_held_out_accuracies(self):
        model_dir = self.create_tempdir().full_path
        code, stderr = run_main_in_process(
            "--flagfile=launch/quickstart.cfg", "--method=plain", "--famus=false", "--epochs=1",
            "--compare_baseline=false", "--export=false", "--profile_split=false",
            "--holdout_fraction=0.25", f"--model_dir={model_dir}")
        self.assertEqual(code, 0, stderr)
        with open(os.path.join(model_dir, "results.json")) as fh:
            res = json.load(fh)
        data = datasets.prepare(DataConfig(holdout_fraction=0.25), NoiseConfig())
        self.assertEqual(res["steps"], len(data.train_labels) // 64)  # trained on the rest
        # Against the noisy labels: about (1 - 0.4 - 0.4 / 9) times the true accuracy + 0.4 / 9.
        true, given = res["tests"]["holdout_true"]["last_top1"], res["tests"]["holdout"]["last_top1"]
        self.assertGreater(true, 0.2)
        self.assertLess(given, true)
        table = aggregate.report([model_dir], metrics=["holdout.last_top1", "holdout_true.last_top1"])
        self.assertIn(f"{100 * given:.2f}", table)
        self.assertIn(f"{100 * true:.2f}", table)


if __name__ == "__main__":
    absltest.main()
