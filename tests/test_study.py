"""famus_tf.study end to end: a grid of tiny real runs, the study SIGKILLed while a run
trains and started again (the finished run is skipped, the killed one resumes, a
failing one is reported), then the report; results.json of real runs; the grid syntax."""
import json
import os
import re
import subprocess
import sys

from absl.testing import absltest

from famus_tf import grid
from tests.fixtures import REPO, kill_when

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
TINY = ["--flagfile=launch/quickstart.cfg", "--epochs=1", "--max_steps=4", "--steps_per_call=2",
        "--checkpoint_every=2", "--export=false", "--compare_baseline=false", "--profile_split=false"]
# Three runs: plain CE; MW-Net (killed), with the plain-CE baseline beside it (the same
# configuration as the first run); one the driver refuses. (FaMUS would only add tracing time.)
GRID = ("variant=plain:method=plain,famus=false|mwnet:method=mwnet,famus=false,compare_baseline=true"
        "|bad:candidates=lowest")


class StudyTest(absltest.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        import tempfile
        import shutil
        cls.root = tempfile.mkdtemp(prefix="study_")
        cls.addClassCleanup(shutil.rmtree, cls.root, ignore_errors=True)
        cls.plain = os.path.join(cls.root, "variant=plain", "seed=0")
        cls.mwnet = os.path.join(cls.root, "variant=mwnet", "seed=0")
        cls.bad = os.path.join(cls.root, "variant=bad", "seed=0")
        cmd = [sys.executable, "-m", "famus_tf.study", f"--grid={GRID}", "--seeds=0",
               f"--root={cls.root}", *TINY]
        with open(os.path.join(cls.root, "first.out"), "w") as out:
            first = subprocess.Popen(cmd, cwd=REPO, env=ENV, stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=True)
            # The study and its run die together after the MW-Net run's first checkpoint.
            kill_when(os.path.join(cls.mwnet, "checkpoint"), first, group=True)
        cls.plain_mtime = os.stat(os.path.join(cls.plain, "results.json")).st_mtime_ns
        cls.mid_report = subprocess.run([sys.executable, "-m", "famus_tf.report", cls.root], cwd=REPO,
                                        capture_output=True, text=True, timeout=120)
        cls.second = subprocess.run(cmd, cwd=REPO, env=ENV, capture_output=True, text=True, timeout=600)

    def results(self, path):
        with open(os.path.join(path, "results.json")) as fh:
            return json.load(fh)

    def test_killed_study_resumes_skips_finished_reports_failures(self):
        # While the study was down: plain finished, the killed run listed as unfinished.
        self.assertEqual(self.mid_report.returncode, 0, self.mid_report.stderr)
        self.assertIn("| plain | false | 1 |", self.mid_report.stdout)
        self.assertIn(f"{self.mwnet}: unfinished (last checkpoint at step 2)", self.mid_report.stdout)
        out = self.second.stdout
        self.assertEqual(self.second.returncode, 1, out + self.second.stderr[-3000:])  # one run failed
        self.assertIn(f"[1/3] {self.plain}: finished, skipped", out)
        self.assertEqual(os.stat(os.path.join(self.plain, "results.json")).st_mtime_ns, self.plain_mtime)
        with open(os.path.join(self.mwnet, "stderr.log")) as fh:
            self.assertIn("resumed from", fh.read())
        self.assertIn(f"[2/3] {self.mwnet}: finished", out)
        self.assertEqual(self.results(self.mwnet)["steps"], 4)
        # The refused run is reported with its exit code and the driver's message; the study went on.
        self.assertRegex(out, rf"\[3/3\] {re.escape(self.bad)}: FAILED with exit code 2: "
                              r"famus_tf\.main: error: [^\n]*--candidates")
        failed = self.results(self.bad)
        self.assertEqual((failed["status"], failed["exit_code"]), ("failed", 2))
        # The final report: both finished runs in the table, the failed one listed apart.
        table = out[out.index("| dataset"):]
        self.assertIn("| digits | symmetric | 0.4 | mwnet | false | 1 |", table)
        self.assertIn("| digits | symmetric | 0.4 | plain | false | 1 |", table)
        self.assertRegex(table, rf"{re.escape(self.bad)}: failed \(exit code 2: famus_tf\.main: "
                                r"error: [^\n]*--candidates")
        top1 = 100 * self.results(self.mwnet)["tests"]["test"]["last_top1"]
        self.assertIn(f"| {top1:.2f} |", table)
        # The baseline trained beside MW-Net is a run of its own, the same configuration and
        # seed as the plain run: counted once.
        first, second = sorted([self.plain, os.path.join(self.mwnet, "baseline_ce")])
        self.assertIn(f"{second}: same configuration and seeds as {first}, counted once", table)

    def test_results_json_of_real_runs(self):
        baseline = os.path.join(self.mwnet, "baseline_ce")
        for path, method in ((self.plain, "plain"), (self.mwnet, "mwnet"), (baseline, "plain")):
            res = self.results(path)
            with open(os.path.join(path, "config.json")) as fh:
                self.assertEqual(res["config"], json.load(fh))
            self.assertEqual(res["config"]["MetaConfig"]["method"], method)
            self.assertEqual(res["status"], "finished")
            self.assertEqual(res["steps"], 4)
            self.assertEqual(list(res["tests"]), ["test"])
            test = res["tests"]["test"]
            for k in ("last_top1", "last_top5", "best_top1", "best_top5"):
                self.assertTrue(0.0 <= test[k] <= 1.0, (k, test[k]))
            self.assertGreaterEqual(test["best_top1"], test["last_top1"])
            self.assertGreaterEqual(test["last_top5"], test["last_top1"])
            # The realised rate of the quickstart's 40% symmetric noise (docs/studies/digits.md).
            self.assertAlmostEqual(res["realised_noise_rate"], 0.3627, delta=0.002)
            self.assertGreater(res["ms_per_step"], 0.0)
            self.assertGreater(res["wall_seconds"], 0.0)
            self.assertNotIn("split", res)
        self.assertIsNone(self.results(self.plain)["weights"])
        self.assertIsNone(self.results(baseline)["weights"])
        # Exact resume and the same data: the baseline ends where the plain run ended.
        self.assertEqual(self.results(baseline)["variables_sha1"], self.results(self.plain)["variables_sha1"])
        w = self.results(self.mwnet)["weights"]
        # MW-Net normalises the weights to sum 1 over each batch of 64, so the mean weight of
        # every counted example is 1/64: a weighted average of the clean and noisy means.
        self.assertTrue(0.0 < min(w["clean"], w["noisy"]) <= 1 / 64 <= max(w["clean"], w["noisy"]) < 1.0, w)


class GridTest(absltest.TestCase):

    def test_axes_variants_names_and_passthrough(self):
        axes = grid.parse("method=plain,mwnet; candidates=block:a/b ;variant=x:famus=true,num_active=2|y:famus=false")
        runs = grid.plan(axes, [0, 1], "R")
        self.assertLen(runs, 2 * 1 * 2 * 2)
        self.assertEqual(runs[0].model_dir, os.path.join("R", "method=plain,candidates=block%3Aa%2Fb,variant=x",
                                                         "seed=0"))
        self.assertEqual(runs[0].settings, (("method", "plain"), ("candidates", "block:a/b"),
                                            ("famus", "true"), ("num_active", "2")))
        self.assertEqual([r.seed for r in runs[:2]], [0, 1])
        self.assertEqual(len({r.model_dir for r in runs}), len(runs))
        long_name = grid.plan(grid.parse("candidates=" + "x" * 300), [0], "R")[0].model_dir
        self.assertLess(len(os.path.basename(os.path.dirname(long_name))), 255)
        own, other = grid.split_argv(["study", "--grid=a=1", "--root", "R", "--flagfile", "f.cfg",
                                      "--nodry_run", "--epochs=2", "--", "--lr=0.5"],
                                     ("grid", "root", "dry_run"), own_bools=("dry_run",))
        self.assertEqual(own, ["--grid=a=1", "--root", "R", "--nodry_run"])
        self.assertEqual(other, ["--flagfile", "f.cfg", "--epochs=2", "--lr=0.5"])
        for bad in ("method", "variant=x", "=1"):
            with self.assertRaisesRegex(ValueError, "--grid"):
                grid.parse(bad)


if __name__ == "__main__":
    absltest.main()
