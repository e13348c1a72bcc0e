"""Progress without a terminal: a log line every N seconds with steps/s and the ETAs."""
from absl.testing import absltest

from famus_tf.train import progress


class ProgressTest(absltest.TestCase):

    def test_a_line_every_n_seconds_with_rate_and_etas(self):
        now = [100.0]
        lines = []
        bar = progress._Plain(epoch=2, epochs=40, total=1000, pos=200, run_left=10_000 - 2200,
                              every=30.0, clock=lambda: now[0], log=lambda f, *a: lines.append(f % a))
        now[0] = 110.0
        bar.update(240, {"train/loss": 1.5})  # 10 s after the start: too early
        self.assertEqual(lines, [])
        now[0] = 140.0
        bar.update(320, {"train/loss": 1.25, "train/accuracy": 0.5})  # 120 steps in 40 s
        self.assertEqual(lines, ["epoch 3/40 step 320/1000 3 steps/s loss=1.25 accuracy=0.5 "
                                 "ETA epoch 0:03:47 run 0:42:40"])  # 680 / 3, (7800 - 120) / 3
        now[0] = 150.0
        bar.update(350, {"train/loss": 1.0})  # 10 s after the last line: quiet
        self.assertLen(lines, 1)
        now[0] = 151.0
        bar.update(1000, {"train/loss": 1.0})  # the epoch's end is always logged
        self.assertLen(lines, 2)
        self.assertIn("step 1000/1000", lines[1])
        self.assertIn("ETA epoch 0:00:00", lines[1])


if __name__ == "__main__":
    absltest.main()
