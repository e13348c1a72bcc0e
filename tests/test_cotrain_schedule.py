"""Algorithm 2's epochs as the official script counts them (famus_tf/cotrain/schedule.py):
the warm-up first, then --epochs co-training epochs; the learning-rate decays and the
lambda_u ramp counted from the end of the warm-up. Checked against the official CNWL run
and in a tiny run of the program, where TensorBoard's train/lr and train/lambda_u must
follow the same schedule."""
import os

from absl.testing import absltest

from famus_tf.cotrain import schedule
from famus_tf.train.summaries import read_scalars
from tests.fixtures import run_main

# The official CNWL 40% run (FaMUS `run_famus.sh`: --lr 0.02 --warmup_epochs 30 --lambda_u 50
# --step1 200 --step2 250, 300 epochs by default; `train_famus_redminiimage.py` warms up first,
# then loops `for e_i in range(args.epochs)`, the decays and clip(e_i / 16) counted in e_i).
OFFICIAL = schedule.Schedule(warmup_epochs=30, epochs=300, lr=0.02, lr_decay=0.1,
                             lr_epochs=(200, 250), lambda_u=50.0)


def official(e):
    """(lr, lambda_u) of the official script's co-training epoch e (e < 0: warm-up)."""
    if e < 0:
        return 0.02, 0.0
    return 0.02 * 0.1 ** (e >= 200) * 0.1 ** (e >= 250), 50.0 * min(max(e / 16.0, 0.0), 1.0)


class ScheduleTest(absltest.TestCase):

    def test_the_official_cnwl_schedule(self):
        self.assertEqual(OFFICIAL.total_epochs, 330)
        for t in (0, 29, 30, 31, 38, 46, 100, 229, 230, 279, 280, 329):
            e = t - 30
            self.assertEqual(OFFICIAL.is_warmup(t), e < 0)
            lr, lam = official(e)
            self.assertAlmostEqual(OFFICIAL.learning_rate(t), lr, places=12, msg=f"epoch {t}")
            self.assertAlmostEqual(OFFICIAL.lambda_u_at(t), lam, places=12, msg=f"epoch {t}")
        # The first decay is 200 epochs after the warm-up ends, not at run epoch 200.
        self.assertAlmostEqual(OFFICIAL.learning_rate(200), 0.02)
        self.assertAlmostEqual(OFFICIAL.learning_rate(230), 0.002)

    def test_without_warm_up_epochs_count_from_zero(self):
        s = schedule.Schedule(0, 10, 1.0, 0.5, (3,), 16.0)
        self.assertEqual([s.learning_rate(t) for t in (0, 2, 3, 9)], [1.0, 1.0, 0.5, 0.5])
        self.assertEqual([s.lambda_u_at(t) for t in (0, 1, 8, 16, 40)], [0.0, 1.0, 8.0, 16.0, 16.0])


class TinyRunTest(absltest.TestCase):
    """The digits with --warmup_epochs=1 --epochs=3: one warm-up epoch of 9 steps, then three
    co-training epochs; lr x0.5 from co-training epoch 1 on, lambda_u 16 ramped by e/16."""

    def test_lr_and_lambda_u_follow_the_schedule(self):
        model_dir = self.create_tempdir().full_path
        out = run_main("--flagfile=launch/quickstart.cfg", "--meta_set=pseudo_clean", "--method=plain",
                       "--warmup_epochs=1", "--epochs=3", "--lr=0.1", "--lr_decay=0.5",
                       "--lr_epochs=1", "--lambda_u=16", "--compare_baseline=false", "--export=false",
                       "--profile_split=false", "--steps_per_call=1", "--checkpoint_every=1000",
                       f"--model_dir={model_dir}")
        self.assertEqual(out.returncode, 0, out.stderr[-3000:])
        scal = read_scalars(os.path.join(model_dir, "tensorboard"))
        lr, lam = dict(scal["train/lr"]), dict(scal["train/lambda_u"])
        warmup = 1258 // 128  # the training set over batches of 2B
        ref = schedule.Schedule(1, 3, 0.1, 0.5, (1,), 16.0)
        self.assertEqual(len(scal["test/top1"]), ref.total_epochs)  # one evaluation per epoch
        # The epoch each step belongs to: the warm-up's steps, then co-training epochs of
        # equal length (max(|labeled|, |unlabeled|) // B; the splits differ by epoch).
        steps = sorted(lr)
        self.assertEqual(steps, list(range(1, len(steps) + 1)))
        ends = [s for s, _ in scal["test/top1"]]
        for step in steps:
            t = sum(step > end for end in ends)
            self.assertAlmostEqual(lr[step], ref.learning_rate(t), places=6, msg=f"step {step}")
            self.assertAlmostEqual(lam[step], ref.lambda_u_at(t), places=6, msg=f"step {step}")
        self.assertEqual(ends[0], warmup)
        self.assertEqual({round(lr[s], 6) for s in steps}, {0.1, 0.05})
        self.assertEqual({lam[s] for s in steps}, {0.0, 1.0, 2.0})


if __name__ == "__main__":
    absltest.main()
