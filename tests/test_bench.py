"""The benchmark's output: table and the JSON form the issue specifies."""
import json
import os
import subprocess
import sys

import tensorflow as tf
from absl.testing import absltest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class BenchTest(absltest.TestCase):

    def test_json_and_table(self):
        path = os.path.join(self.create_tempdir().full_path, "bench.json")
        out = subprocess.run(
            [sys.executable, "-m", "famus_tf.bench", "--model=small_cnn", "--image_size=8",
             "--channels=1", "--batch_size=16", "--rounds=2", "--warmup=0", "--xla=off",
             "--methods=plain,floor,mwnet_reuse,mwnet_famus", "--memory=false",
             f"--output_json={path}"],
            cwd=REPO, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"), capture_output=True, text=True,
            timeout=600)
        self.assertEqual(out.returncode, 0, out.stderr[-3000:])
        self.assertIn("| mwnet_famus | off |", out.stdout)
        data = json.load(open(path))
        self.assertEqual((data["model"], data["batch_size"], data["xla"]), ("small_cnn", 16, False))
        self.assertEqual(set(data["results"]), {"plain", "floor", "mwnet_reuse", "mwnet_famus"})
        self.assertEqual(data["results"]["plain"]["ratio_to_plain"], 1.0)
        for r in data["results"].values():
            self.assertGreater(r["median_ms"], 0.0)
            self.assertAlmostEqual(r["ratio_to_plain"],
                                   r["median_ms"] / data["results"]["plain"]["median_ms"])
        bad = subprocess.run([sys.executable, "-m", "famus_tf.bench", "--methods=nope"], cwd=REPO,
                             capture_output=True, text=True, timeout=300)
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn("nope", bad.stderr)


    def test_devices_mode_times_one_and_two_logical_devices(self):
        path = os.path.join(self.create_tempdir().full_path, "bench.json")
        out = subprocess.run(
            [sys.executable, "-m", "famus_tf.bench", "--mode=devices", "--model=small_cnn",
             "--image_size=8", "--channels=1", "--batch_size=16", "--rounds=1", "--warmup=0",
             "--xla=off", "--methods=plain,mwnet_famus", "--memory=false", f"--output_json={path}"],
            cwd=REPO, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"), capture_output=True, text=True,
            timeout=600)
        self.assertEqual(out.returncode, 0, out.stderr[-3000:])
        self.assertIn("CPU figures", out.stdout)
        results = json.load(open(path))["results"]
        self.assertEqual(set(results), {"plain", "mwnet_famus", "plain@2cpu", "mwnet_famus@2cpu"})
        for r in results.values():
            self.assertGreater(r["median_ms"], 0.0)


class StepMemoryTest(absltest.TestCase):

    def test_cpu_measure_sees_the_buffer_a_step_allocates(self):
        """A step that fills 128 MB (above glibc's largest mmap threshold, so mapped and
        released per call) measures at least that, the between-steps level excluded."""
        from famus_tf import step_memory
        if step_memory._gpu():
            self.skipTest("the CPU measurement")
        n = 32 * 1024 * 1024

        def call():
            return {"loss": tf.reduce_sum(tf.random.uniform([n]))}

        call()
        res = step_memory.measure(call, steps=2)
        self.assertGreaterEqual(res["step_memory_mb"], 120.0)
        self.assertLess(res["step_memory_mb"], 400.0)
        self.assertGreater(res["peak_memory_mb"], res["step_memory_mb"])
        small = step_memory.measure(lambda: {"loss": tf.reduce_sum(tf.ones([16]))}, steps=2)
        self.assertLess(small["step_memory_mb"], 60.0)

    def test_one_configuration_alone(self):
        from famus_tf import step_memory
        res = step_memory.run_config("mwnet_famus_reuse", False, "small_cnn", 8, 8, 1, 4, steps=1)
        self.assertLessEqual({"step_memory_mb", "peak_memory_mb", "memory_source"}, set(res))
        self.assertGreaterEqual(res["step_memory_mb"], 0.0)
        self.assertGreater(res["peak_memory_mb"], res["step_memory_mb"])

    def test_both_cpu_kernel_libraries_measure_the_same_step(self):
        """oneDNN's kernels (allocator statistics) and TensorFlow's Eigen kernels (the
        resident set) see the same step memory: full MW-Net on the small CNN, batch 64 at
        32x32x3, about 175-185 MB either way on this project's machines."""
        from famus_tf import step_memory
        if step_memory._gpu():
            self.skipTest("the CPU measurement")
        res = {v: step_memory.in_subprocess("mwnet", False, "small_cnn", 64, 32, 3, 10,
                                            env={"TF_ENABLE_ONEDNN_OPTS": v}) for v in ("1", "0")}
        self.assertIn("allocator", res["1"]["memory_source"])
        self.assertEqual(res["0"]["memory_source"], "process VmHWM (CPU)")
        for r in res.values():
            self.assertGreater(r["step_memory_mb"], 100.0, r)
        self.assertAlmostEqual(res["1"]["step_memory_mb"] / res["0"]["step_memory_mb"], 1.0,
                               delta=0.2, msg=res)

    def test_no_figure_where_nothing_can_be_read(self):
        from unittest import mock

        from famus_tf import bench, step_memory
        with mock.patch.object(step_memory, "_has_allocator_stats", return_value=False), \
                mock.patch.object(step_memory, "_resident_kb", return_value=None):
            res = step_memory.measure(lambda: {"loss": tf.ones([])})
        self.assertIsNone(res["step_memory_mb"])
        self.assertIn("not available", res["memory_source"])
        row = bench.table({False: {"plain": {"median_ms": 1.0, "ratio_to_plain": 1.0,
                                             "first_call_s": 0.1, **res}}}).splitlines()[-1]
        self.assertEqual(row.split("|")[6:8], [" - ", " - "])


class PipelineBenchTest(absltest.TestCase):

    def test_pipeline_throughput_measures_both_file_pipelines(self):
        from famus_tf import bench
        rates = bench.pipeline_throughput(num_images=16, batch_size=4, batches=2, log=lambda s: None)
        self.assertEqual(set(rates), {"clothing1m", "webvision", "clothing1m_records",
                                      "webvision_records"})
        self.assertTrue(all(r > 0 for r in rates.values()))


class CotrainBenchTest(absltest.TestCase):

    def test_cotrain_iteration_and_evaluation_pass_are_timed(self):
        from famus_tf import bench
        res, ev = bench.run_cotrain(["cotrain_plain"], "small_cnn", batch_size=8, image_size=8,
                                    channels=1, rounds=1, warmup=0, eval_images=32,
                                    log=lambda s: None)
        self.assertEqual(set(res), {"plain", "cotrain_plain"})
        self.assertAlmostEqual(res["cotrain_plain"]["ratio_to_plain"],
                               res["cotrain_plain"]["median_ms"] / res["plain"]["median_ms"])
        self.assertAlmostEqual(ev["eval_to_plain_per_image"],
                               ev["eval_ms_per_image"] / ev["plain_ms_per_image"])
        self.assertAlmostEqual(ev["plain_ms_per_image"], res["plain"]["median_ms"] / 8)
        with self.assertRaisesRegex(ValueError, "--cotrain_configs"):
            bench.run_cotrain(["nope"])


if __name__ == "__main__":
    absltest.main()
