"""examples/: each script runs as a user runs it and prints what its docstring says.

examples/keras_fit_digits.py runs for 2 epochs (about 20 s) in a process of its own, the
way its docstring says (`python examples/keras_fit_digits.py`), from a directory outside
the checkout and without PYTHONPATH: its sys.path line must find this checkout. The
values are parsed from its output and checked against the data it loads (the program's
digits, data/digits.py): every suspect's given label is the noisy label of its index.
TF_ENABLE_ONEDNN_OPTS passes through, so the test holds with oneDNN on and off.
"""
import os
import re
import subprocess
import sys

import numpy as np
from absl.testing import absltest

from famus_tf.config import DataConfig, NoiseConfig
from famus_tf.data import datasets
from tests.fixtures import REPO

SCRIPT = os.path.join(REPO, "examples", "keras_fit_digits.py")
ACCURACY = re.compile(r"^clean test accuracy, (.+): (\d+\.\d\d)%$")
METHODS = ["MetaReweighting.fit (MW-Net + FaMUS)", "plain model.fit"]
HEADER = "top suspects: rank index given predicted p_given meta_weight score truly_wrong"


class KerasFitDigitsTest(absltest.TestCase):

    def test_the_script_is_under_60_lines(self):
        with open(SCRIPT) as fh:
            self.assertLess(len(fh.read().splitlines()), 60)

    def run_outside(self, *args):
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        return subprocess.run([sys.executable, *args], cwd=self.create_tempdir().full_path,
                              env=env, capture_output=True, text=True, timeout=300)

    def test_the_script_imports_the_checkout_it_is_in(self):
        # (an installed famus_tf, e.g. another checkout's `pip install -e .`, must not win)
        out = self.run_outside("-c", "import runpy, sys\n"
                               f"sys.argv = [{SCRIPT!r}, '--help']\n"
                               "try:\n    runpy.run_path(sys.argv[0], run_name='__main__')\n"
                               "except SystemExit:\n    pass\n"
                               "print(sys.modules['famus_tf.keras'].__file__)")
        self.assertEqual(out.returncode, 0, out.stderr[-3000:])
        self.assertIn("--epochs EPOCHS", out.stdout)
        self.assertIn("--seed SEED", out.stdout)
        self.assertEqual(out.stdout.splitlines()[-1],
                         os.path.join(REPO, "famus_tf", "keras", "__init__.py"))

    def test_a_short_run_prints_both_accuracies_then_the_suspects(self):
        out = self.run_outside(SCRIPT, "--epochs", "2", "--seed", "1")
        self.assertEqual(out.returncode, 0, out.stderr[-3000:])
        lines = out.stdout.splitlines()
        self.assertLen(lines, 2 + 1 + 10, out.stdout)
        found = [ACCURACY.match(line) for line in lines[:2]]
        self.assertTrue(all(found), lines[:2])
        self.assertEqual([m.group(1) for m in found], METHODS)
        for m in found:  # two epochs already far above chance (10%)
            self.assertBetween(float(m.group(2)), 20.0, 100.0)
        self.assertEqual(lines[2], HEADER)
        data = datasets.prepare(DataConfig(dataset="digits", meta_per_class=10),
                                NoiseConfig(rate=0.4))
        rows = [line.split() for line in lines[3:]]
        self.assertTrue(all(len(r) == 8 for r in rows), rows)
        rank, index, given, predicted = (np.array([int(r[k]) for r in rows]) for k in range(4))
        p_given, weight, score = (np.array([float(r[k]) for r in rows]) for k in (4, 5, 6))
        wrong = [r[7] for r in rows]
        np.testing.assert_array_equal(rank, np.arange(1, 11))
        self.assertLen(set(index.tolist()), 10)
        self.assertTrue(((index >= 0) & (index < len(data.train_labels))).all(), index)
        np.testing.assert_array_equal(given, data.train_labels[index])
        self.assertTrue(((predicted >= 0) & (predicted < 10)).all(), predicted)
        self.assertTrue(((p_given >= 0) & (p_given <= 1) & (weight >= 0)).all())
        self.assertTrue((np.diff(score) <= 0).all(), score)  # most suspect first
        np.testing.assert_allclose(score, 1 - p_given * np.minimum(weight, 1), atol=2e-3)
        truly = (data.train_clean[index] != given).tolist()
        self.assertEqual(wrong, [str(t) for t in truly])
        # 36% of the labels are wrong; ten suspects at random hold 6 or more with p = 0.06
        self.assertGreaterEqual(sum(truly), 6, rows)


if __name__ == "__main__":
    absltest.main()
