"""Candidate selection, branch choice, gate noise and the sampler's pieces."""
import numpy as np
import tensorflow as tf
from absl.testing import absltest

from famus_tf import counter_rng
from famus_tf.meta import sampler, selection

PATHS = ["stem_conv/kernel", "stage1_conv/kernel", "stage1_bn/gamma", "stage2_conv/kernel",
         "stage2_bn/gamma", "stage2_bn/beta", "head_fc/kernel", "head_fc/bias"]


class SelectionTest(absltest.TestCase):

    def test_candidate_specs(self):
        self.assertEqual(selection.resolve(PATHS, "all").candidates, (0, 1, 2, 3, 4, 5))
        self.assertEqual(selection.resolve(PATHS, "top:2").candidates, (4, 5))
        s = selection.resolve(PATHS, "block:stage2")
        self.assertEqual((s.candidates, s.always_on, s.head), ((3, 4, 5), (6, 7), (6, 7)))
        off = selection.resolve(PATHS, "all", head_always_on=False)
        self.assertEqual(off.candidates, tuple(range(8)))
        self.assertEqual(off.always_on, ())
        with self.assertRaisesRegex(ValueError, "match no"):
            selection.resolve(PATHS, "block:stage9")
        with self.assertRaisesRegex(ValueError, "head prefix"):
            selection.resolve(PATHS, "all", head_prefix="classifier")

    def test_lowest_branch_is_the_segment_of_the_lowest_active_gate(self):
        s = selection.resolve(PATHS, "all", num_segments=3)  # starts (0, 2, 4)
        self.assertEqual(s.segment_starts, (0, 2, 4))
        cases = {(0, 0, 0, 0, 0, 1): 2, (0, 0, 1, 0, 0, 0): 1, (1, 0, 0, 0, 0, 0): 0,
                 (0, 1, 0, 0, 1, 0): 0, (0, 0, 0, 0, 0, 0): 3}
        for gates, branch in cases.items():
            got = int(selection.lowest_branch(s, tf.constant(gates, tf.float32)))
            self.assertEqual(got, branch, gates)
            # The branch computes every active tensor's path.
            active = {s.candidates[k] for k, g in enumerate(gates) if g}
            self.assertTrue(active <= set(s.branch_tensors(got)))

    def test_random_gates_and_counter_noise(self):
        for step in range(20):
            g = selection.random_gates(6, 4, step, 7, tf.float32).numpy()
            self.assertEqual(g.sum(), 4)
        u = counter_rng.uniform(10000, 5, 1).numpy()
        self.assertTrue(((u > 0) & (u < 1)).all())
        self.assertAlmostEqual(u.mean(), 0.5, delta=0.01)
        np.testing.assert_array_equal(u, counter_rng.uniform(10000, 5, 1).numpy())
        self.assertGreater(np.abs(u - counter_rng.uniform(10000, 6, 1).numpy()).mean(), 0.2)
        xla = tf.function(lambda: counter_rng.uniform(16, 5, 1), jit_compile=True)().numpy()
        np.testing.assert_array_equal(xla, u[:16])


class SamplerTest(absltest.TestCase):

    def test_pooled_gradient_is_standardised_over_the_output_axis(self):
        g = tf.random.normal([3, 3, 4, 6])
        p = sampler.pooled_gradient(g).numpy()
        self.assertEqual(p.shape, (1, 6))
        self.assertAlmostEqual(p.mean(), 0.0, places=5)
        self.assertAlmostEqual(p.std(ddof=1), 1.0, places=4)
        ref = tf.reduce_mean(g, axis=[0, 1, 2]).numpy()
        np.testing.assert_allclose(p[0], (ref - ref.mean()) / ref.std(ddof=1), rtol=1e-4)

    def test_straight_through_gate_is_hard_forward_soft_backward(self):
        logits = tf.Variable([0.3, -0.2])
        seen = set()
        for step in range(40):
            with tf.GradientTape() as tape:
                r = sampler.straight_through_gumbel(logits, 5.0, step, 3)
            seen.add(float(r))
            grad = tape.gradient(r, logits).numpy()
            self.assertGreater(np.abs(grad).sum(), 0.0)
            self.assertAlmostEqual(grad.sum(), 0.0, places=6)  # softmax gradient
        self.assertEqual(seen, {0.0, 1.0})

    def test_auxiliary_losses(self):
        gates = [tf.constant(1.0), tf.constant(0.0), tf.constant(1.0)]
        self.assertEqual(float(sampler.gate_count_loss(gates, 4.0, "paper")), 4.0)
        self.assertEqual(float(sampler.gate_count_loss(gates, 4.0, "code")), 9.0)
        gt = [tf.ones([3, 2]), tf.constant([1.0, 2.0])]
        self.assertEqual(float(sampler.gradient_match_loss(gt, gt, "paper")), 0.0)
        self.assertLess(float(sampler.gradient_match_loss(gt, gt, "code")), 1e-10)
        gv = [tf.zeros([3, 2]), tf.constant([1.0, 2.0])]
        self.assertAlmostEqual(float(sampler.gradient_match_loss(gt, gv, "paper")), 2.0, places=6)
        self.assertAlmostEqual(float(sampler.gradient_match_loss(gt, gv, "code")), 1.0, places=5)
        for depth, n_dense in (("paper", 2), ("code", 3)):
            net = sampler.build_sampler(6, depth=depth)
            dense = [l for l in net.layers if l.__class__.__name__ == "Dense"]
            self.assertEqual(len(dense), n_dense)
            self.assertEqual(net(tf.zeros([1, 6])).shape, (1, 2))


if __name__ == "__main__":
    absltest.main()
