"""famus_tf.report over synthetic run directories: mean and sample std over seeds,
markdown and CSV, unfinished and failed runs listed apart, bad paths refused."""
import csv
import json
import math
import os
import subprocess
import sys

from absl.testing import absltest

from famus_tf import aggregate, config as cfg
from famus_tf.data.noise import NoiseConfig
from famus_tf.train import results as run_results
from tests.fixtures import REPO


def config(method="mwnet", seed=0, noise_seed=0, lr=0.1, model_dir="x"):
    """A config.json dict as the driver writes it."""
    return json.loads(json.dumps(cfg.to_dict(
        cfg.RunConfig(model_dir=model_dir, seed=seed), cfg.DataConfig(),
        NoiseConfig(noise_type="symmetric", rate=0.4, seed=noise_seed),
        cfg.MetaConfig(method=method, famus=method != "plain", seed=seed), cfg.OptimConfig(lr=lr))))


def make_run(path, conf, last=None, best=None, weights=None, status="finished"):
    """A run directory: config.json, and results.json when `status` is given."""
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "config.json"), "w") as fh:
        json.dump(conf, fh)
    if status == "finished":
        run_results.write(path, {"status": "finished", "config": conf, "steps": 4,
                                 "tests": {"test": {"last_top1": last, "best_top1": best,
                                                    "last_top5": 1.0, "best_top5": 1.0}},
                                 "weights": weights})
    elif status == "failed":
        run_results.write_failure(path, 1, "ValueError: boom")
    return path


def report_cli(*args):
    return subprocess.run([sys.executable, "-m", "famus_tf.report", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


class ReportTest(absltest.TestCase):

    def setUp(self):
        super().setUp()
        self.root = self.create_tempdir().full_path
        r = lambda *p: os.path.join(self.root, *p)  # noqa: E731
        # Two seeds of MW-Net (different seed and noise seed: both are seed fields).
        self.last = (0.8125, 0.8641)
        self.best = (0.9012, 0.9177)
        make_run(r("mwnet", "seed=0"), config(seed=0, model_dir=r("mwnet", "seed=0")),
                 self.last[0], self.best[0], {"clean": 0.02, "noisy": 0.004})
        make_run(r("mwnet", "seed=1"), config(seed=1, noise_seed=1, model_dir=r("mwnet", "seed=1")),
                 self.last[1], self.best[1], {"clean": 0.03, "noisy": 0.008})
        # One seed of plain CE, and the same run again elsewhere (a baseline beside a meta run).
        make_run(r("plain", "seed=0"), config("plain"), 0.7233, 0.9001)
        make_run(r("mwnet", "seed=0", "baseline_ce"), config("plain", model_dir="y"), 0.7233, 0.9001)
        # Killed after a checkpoint at step 8; and one whose process failed.
        killed = make_run(r("mwnet", "seed=2"), config(seed=2), status=None)
        with open(os.path.join(killed, "checkpoint"), "w") as fh:
            fh.write('model_checkpoint_path: "ckpt-8"\nall_model_checkpoint_paths: "ckpt-8"\n')
        make_run(r("mwnet", "seed=3"), config(seed=3), status="failed")

    def test_mean_and_sample_std_over_seeds_in_markdown_and_csv(self):
        csv_path = os.path.join(self.root, "table.csv")
        out = report_cli(self.root, f"--csv={csv_path}")
        self.assertEqual(out.returncode, 0, out.stderr)
        mean = 100 * (self.last[0] + self.last[1]) / 2
        std = 100 * math.sqrt(((self.last[0] - self.last[1]) ** 2) / 2)  # ddof=1 of two values
        best_mean = 100 * (self.best[0] + self.best[1]) / 2
        best_std = 100 * abs(self.best[0] - self.best[1]) / math.sqrt(2)
        lines = out.stdout.splitlines()
        self.assertEqual(lines[0], "| dataset | noise_type | noise_rate | method | famus | seeds "
                                   "| test.last_top1 (%) | test.best_top1 (%) |")
        self.assertIn(f"| digits | symmetric | 0.4 | mwnet | true | 2 | {mean:.2f} ± {std:.2f} | "
                      f"{best_mean:.2f} ± {best_std:.2f} |", lines)
        # One seed: its value alone; the duplicate plain run is counted once.
        self.assertIn("| digits | symmetric | 0.4 | plain | false | 1 | 72.33 | 90.01 |", lines)
        self.assertEqual(sum(line.startswith("| digits") for line in lines), 2)
        self.assertIn("counted once", out.stdout)
        # Unfinished and failed runs are listed, not averaged.
        listed = out.stdout[out.stdout.index("Not averaged"):]
        self.assertIn(os.path.join(self.root, "mwnet", "seed=2") + ": unfinished (last checkpoint at step 8)",
                      listed)
        self.assertIn(os.path.join(self.root, "mwnet", "seed=3") + ": failed (exit code 1: ValueError: boom)",
                      listed)
        with open(csv_path) as fh:
            rows = list(csv.DictReader(fh))
        self.assertEqual(len(rows), 2)
        mw = next(row for row in rows if row["method"] == "mwnet")
        self.assertEqual(mw["seeds"], "2")
        self.assertAlmostEqual(float(mw["test.last_top1_mean"]), mean, places=9)
        self.assertAlmostEqual(float(mw["test.last_top1_std"]), std, places=9)
        self.assertAlmostEqual(float(mw["test.best_top1_std"]), best_std, places=9)
        plain = next(row for row in rows if row["method"] == "plain")
        self.assertEqual((plain["seeds"], plain["test.last_top1_std"]), ("1", ""))
        self.assertAlmostEqual(float(plain["test.last_top1_mean"]), 72.33, places=9)

    def test_columns_metrics_and_fields_that_differ_are_added(self):
        make_run(os.path.join(self.root, "lr", "seed=0"), config(lr=0.05), 0.5, 0.6)
        runs = [aggregate.load_run(p) for p in aggregate.find_run_dirs([os.path.join(self.root, "*")])]
        table = aggregate.build_table(runs, columns=["method", "noise_rate"], metrics=["weights.noisy"])
        # famus and lr differ between rows, so they become columns.
        self.assertEqual(table.columns, ["method", "noise_rate", "famus", "lr"])
        values = {tuple(v): cells["weights.noisy"] for v, _, cells in table.rows}
        mean, std, n = values[("mwnet", 0.4, True, 0.1)]
        self.assertEqual(n, 2)
        self.assertAlmostEqual(mean, 0.006)
        self.assertAlmostEqual(std, math.sqrt(((0.004 - 0.006) ** 2 + (0.008 - 0.006) ** 2) / 1))
        self.assertEqual(values[("plain", 0.4, False, 0.1)], (None, None, 0))  # plain weighs no examples
        with self.assertRaisesRegex(ValueError, "no configuration field 'bogus'"):
            aggregate.build_table(runs, columns=["method", "bogus"])
        with self.assertRaisesRegex(ValueError, "seed"):
            aggregate.build_table(runs, columns=["noise_seed"])  # averaged over, not a column

    def test_a_path_that_is_not_a_run_gets_one_line_and_exit_2(self):
        empty = self.create_tempdir().full_path
        for arg in (empty, os.path.join(empty, "nothing*"), os.path.join(empty, "missing")):
            out = report_cli(self.root, arg)
            self.assertEqual(out.returncode, 2, out.stderr)
            self.assertEqual(len(out.stderr.strip().splitlines()), 1, out.stderr)
            self.assertIn(arg, out.stderr)
            self.assertEqual(out.stdout, "")
        out = report_cli(self.root, "--metrics=test.no_such")
        self.assertEqual(out.returncode, 2)
        self.assertIn("test.no_such", out.stderr)
        help_text = report_cli("--help")
        self.assertIn("--columns", help_text.stdout)
        self.assertIn("--csv", help_text.stdout)


if __name__ == "__main__":
    absltest.main()
