"""The driver: flag validation (exit code 2 before any work), flagfiles, a tiny run."""
import glob
import json
import os

from absl.testing import absltest

from tests.fixtures import REPO, run_main, run_main_in_process



TINY = ["--flagfile=launch/quickstart.cfg", "--epochs=1", "--compare_baseline=false",
        "--steps_per_call=4", "--checkpoint_every=8"]


class FlagValidationTest(absltest.TestCase):

    def assert_rejected(self, args, needle):
        code, stderr = run_main_in_process(*args)
        self.assertEqual(code, 2, stderr[-2000:])
        self.assertIn(needle, stderr)
        self.assertEqual(len(stderr.strip().splitlines()), 1, stderr)
        self.assertTrue(stderr.startswith("famus_tf.main: error: "), stderr)

    def test_bad_values_are_rejected_with_the_flag_named(self):
        tmp = self.create_tempdir().full_path
        self.assert_rejected(["--method=bogus", f"--model_dir={tmp}"], "method")
        self.assert_rejected(["--noise_rate=1.5", f"--model_dir={tmp}"], "noise_rate")
        self.assert_rejected(["--flagfile=launch/does_not_exist.cfg"], "does_not_exist.cfg")
        self.assert_rejected(["--dataset=digits", "--data_dir=/no/such/dir", f"--model_dir={tmp}"],
                             "--data_dir")
        self.assert_rejected(["--candidates=lowest", f"--model_dir={tmp}"], "--candidates")
        self.assert_rejected(["--lr_epochs=a,b", f"--model_dir={tmp}"], "--lr_epochs")
        self.assert_rejected(["--xla", "--strategy=mirrored", f"--model_dir={tmp}"], "--xla")
        self.assert_rejected(["--strategy=multi_worker_mirrored", f"--model_dir={tmp}"], "TF_CONFIG")
        self.assert_rejected([f"--records_dir={tmp}", f"--model_dir={tmp}"], "--records_dir")
        self.assert_rejected(["--method=l2r", "--actual_step=reuse", f"--model_dir={tmp}"],
                             "--actual_step=reuse: L2R")
        self.assert_rejected(["--method=mlc", "--mlc_update=official", "--actual_step=reuse",
                              f"--model_dir={tmp}"], "--mlc_update=learned")
        self.assert_rejected(["--method=l2r", "--meta_set=pseudo_clean", "--actual_step=reuse",
                              f"--model_dir={tmp}"], "--actual_step=reuse")
        # No more candidates than K: every gate on, nothing sampled (refused once the model
        # is built, before anything is written), for Algorithm 1, 2 and Random-K alike.
        self.assert_rejected(["--candidates=top:3", "--num_active=4", f"--model_dir={tmp}"],
                             "--candidates=top:3 gives 3 gated tensors")
        self.assert_rejected(["--meta_set=pseudo_clean", "--candidates=top:4", f"--model_dir={tmp}"],
                             "not more than --num_active=4")
        self.assert_rejected(["--gate_policy=random", "--candidates=top:2", "--num_active=2",
                              f"--model_dir={tmp}"], "--num_active=2")
        # Nothing was written for the rejected runs.
        self.assertEqual(os.listdir(tmp), [])

    def test_a_refused_process_exits_2_with_one_line(self):
        # With TensorFlow's oneDNN kernels on (its default on CPUs with AVX512_VNNI, BF16 or
        # AMX) and off: TensorFlow writes its oneDNN notice only in the first case.
        for onednn in ("1", "0"):
            tmp = self.create_tempdir().full_path
            out = run_main("--noise_rate=1.5", f"--model_dir={tmp}", TF_ENABLE_ONEDNN_OPTS=onednn)
            self.assertEqual(out.returncode, 2, out.stderr[-2000:])
            self.assertIn("noise_rate", out.stderr)
            # That line and nothing else: none of TensorFlow's start-up lines (famus_tf/startup.py).
            self.assertEqual(len(out.stderr.splitlines()), 1, (onednn, out.stderr))
            self.assertTrue(out.stderr.startswith("famus_tf.main: error: "), out.stderr)
            self.assertEqual(os.listdir(tmp), [])


class TinyRunTest(absltest.TestCase):

    def test_one_epoch_runs_logs_checkpoints_exports_and_refuses_other_config(self):
        model_dir = self.create_tempdir().full_path
        out = run_main(*TINY, f"--model_dir={model_dir}")
        self.assertEqual(out.returncode, 0, out.stderr[-3000:])
        self.assertIn("clean test accuracy", out.stdout)
        results = json.load(open(os.path.join(model_dir, "results.json")))["tests"]["test"]
        self.assertGreater(results["last_top1"], 0.0)
        self.assertLessEqual(results["last_top1"], 1.0)
        self.assertTrue(glob.glob(os.path.join(model_dir, "ckpt-*.index")))
        self.assertTrue(os.path.exists(os.path.join(model_dir, "export", "saved_model.pb")))
        from famus_tf.train.summaries import read_scalars, read_tags
        tb = os.path.join(model_dir, "tensorboard")
        tags = read_tags(tb)
        for tag in ("train/loss", "train/accuracy", "train/lr", "train/ms_per_step", "meta/val_loss",
                    "famus/gate_fraction", "famus/loss_r", "famus/loss_g", "test/top1", "test/top5",
                    "test/loss", "weights/clean", "weights/noisy", "famus/selection_counts",
                    "famus/selection_counts_image", "noise/realised_rate", "noise/transition",
                    "time/virtual_ms", "time/meta_ms", "time/actual_ms"):
            self.assertIn(tag, tags)
        top1 = read_scalars(tb)["test/top1"]
        self.assertAlmostEqual(top1[-1][1], results["last_top1"], places=5)
        # The noisy labels are kept, to compare other runs on exactly the same noise.
        from famus_tf.data.noise import load_noise_file
        noisy, clean = load_noise_file(os.path.join(model_dir, "noisy_labels.npz"), 10)
        self.assertAlmostEqual(float((noisy != clean).mean()), 0.3627, delta=0.002)
        # Export on demand from the checkpoint.
        import shutil
        shutil.rmtree(os.path.join(model_dir, "export"))
        code, stderr = run_main_in_process(*TINY, "--export_only", f"--model_dir={model_dir}")
        self.assertEqual(code, 0, stderr[-3000:])
        self.assertTrue(os.path.exists(os.path.join(model_dir, "export", "saved_model.pb")))
        config = json.load(open(os.path.join(model_dir, "config.json")))
        self.assertEqual(config["MetaConfig"]["method"], "mwnet")
        # Same directory, different training configuration: refused, nothing overwritten.
        code, stderr = run_main_in_process(*TINY, "--lr=0.5", f"--model_dir={model_dir}")
        self.assertEqual(code, 2)
        self.assertIn("another configuration", stderr)
        self.assertIn("OptimConfig.lr", stderr)


if __name__ == "__main__":
    absltest.main()


class XlaRunTest(absltest.TestCase):

    def test_xla_flag_compiles_the_training_step(self):
        import subprocess
        import sys
        model_dir = self.create_tempdir().full_path
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="0", CUDA_VISIBLE_DEVICES="")
        out = subprocess.run([sys.executable, "-m", "famus_tf.main", "--xla", "--epochs=1",
                              "--compare_baseline=false", "--export=false", "--profile_split=false",
                              f"--model_dir={model_dir}"], cwd=REPO, env=env, capture_output=True,
                             text=True, timeout=600)
        self.assertEqual(out.returncode, 0, out.stderr[-3000:])
        self.assertIn("Compiled cluster using XLA", out.stderr)
        results = json.load(open(os.path.join(model_dir, "results.json")))["tests"]["test"]
        self.assertGreater(results["last_top1"], 0.3)  # one epoch of 18 steps learns something
