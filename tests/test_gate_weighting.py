"""--gate_weighting=inverse_prob: the mean of the weighted gated meta-gradient over many
gate draws is the full meta-gradient; the paper's unweighted one is measurably smaller.

The model (6 parameter tensors, every one a candidate, nothing always on) has 2^6 gate
patterns, so the step's meta-gradient is computed once per pattern (by the step's own
code path, weighted and unweighted) and each of the DRAWS gate draws looks its value up:
the Monte-Carlo mean is the mean of the step's outputs, at a fraction of the cost of a
step per draw. Gates are drawn as the step draws them: counter-based straight-through
Gumbel gates of the fixed samplers, with the keep probabilities the step computes, and
Random-K's counter-based K of N (weight N/K). Bounds are in standard errors of the mean
(SE_j = sd_j / sqrt(DRAWS) per component j): the weighted mean lies within 5 SE of the full
meta-gradient in every component (the draws are deterministic; for an unbiased estimate a
5-SE deviation in one of 12 components has probability ~7e-6), the unweighted mean more
than 20 SE away in some component.
"""
import itertools

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from famus_tf.meta import sampler as sampler_lib
from famus_tf.meta import selection as selection_lib
from tests import meta_fixtures as fx
from tests.test_famus import make

DRAWS = 3000


def steps():
    return tf.range(DRAWS, dtype=tf.int64)


@tf.function(autograph=False)
def gumbel_draws(logits, stream):
    """[DRAWS, N] hard gates of straight_through_gumbel, one row per step counter."""
    def row(step):
        return tf.stack([sampler_lib.straight_through_gumbel(logits[k], 5.0, step, stream + k)
                         for k in range(logits.shape[0])])
    return tf.map_fn(row, steps(), fn_output_signature=logits.dtype)


@tf.function(autograph=False)
def tau_draws(logits, tau):
    return tf.map_fn(lambda s: sampler_lib.straight_through_gumbel(logits, tau, s, 7), steps(),
                     fn_output_signature=logits.dtype)


@tf.function(autograph=False)
def random_k_draws(n, k, stream):
    return tf.map_fn(lambda s: selection_lib.random_gates(n, k, s, stream, tf.float64), steps(),
                     fn_output_signature=tf.float64)


def pattern_table(learner, batch, keep_probs):
    """{gate pattern: (weighted d_phi, unweighted d_phi)}, from the step's code path."""
    x, y, xv, yv = batch

    @tf.function(autograph=False)
    def both(hard):
        c = learner._virtual_pass(x, y, xv, yv)
        return learner._phi_gradient(c, hard, keep_probs), learner._phi_gradient(c, hard)

    n = len(learner.selection.candidates)
    return {g: tuple(t.numpy() for t in both(tf.constant(g, tf.float64)))
            for g in itertools.product((0.0, 1.0), repeat=n)}


def step_keep_probs(learner, batch):
    """Gates, keep probabilities and sampler logits as the step computes them."""
    x, y, xv, yv = batch
    c = learner._virtual_pass(x, y, xv, yv)
    grads = learner._sampler_gradients(c)
    hard, probs, _ = learner._gates(grads, c.lr, c.u, tf.constant(0, tf.int64))
    logits = [net(sampler_lib.pooled_gradient(grads[i]))[0]
              for i, net in zip(learner.selection.candidates, learner.samplers)]
    return probs.numpy(), tf.stack(logits) if logits else None


class GateWeightingTest(fx.Float64, parameterized.TestCase):

    @parameterized.parameters(("learned", 4), ("random", 2))
    def test_inverse_prob_mean_is_the_full_meta_gradient(self, policy, k):
        learner, shape = make(famus=True, model="mlp", candidates="all", head_always_on=False,
                              gate_policy=policy, num_active=k, sampler_lr=0.0,
                              gate_weighting="inverse_prob")
        n = len(learner.selection.candidates)
        self.assertEqual(n, 6)  # every tensor gated, the head too: nothing is always kept
        full, _ = make(famus=False, model="mlp")
        batch = fx.batches(shape)
        reference = full.meta_gradient(*batch)["d_phi"].numpy()
        probs, logits = step_keep_probs(learner, batch)
        if policy == "random":
            np.testing.assert_allclose(probs, np.full(n, k / n), rtol=1e-12)
            gates = random_k_draws(n, k, 0).numpy()
            np.testing.assert_array_equal(gates.sum(axis=1), np.full(DRAWS, k))
        else:  # the step's keep probabilities are its samplers' on-probabilities
            np.testing.assert_allclose(probs, tf.nn.softmax(logits)[:, 1].numpy(), rtol=1e-12)
            self.assertTrue(np.all((probs > 0.1) & (probs < 0.9)))
            gates = gumbel_draws(logits, 11).numpy()
            se_gate = np.sqrt(probs * (1 - probs) / DRAWS)
            self.assertLess(np.max(np.abs(gates.mean(axis=0) - probs) / se_gate), 5.0)
        table = pattern_table(learner, batch, tf.constant(probs))
        weighted = np.stack([table[tuple(g)][0] for g in gates])
        unweighted = np.stack([table[tuple(g)][1] for g in gates])
        se = weighted.std(axis=0, ddof=1) / np.sqrt(DRAWS)
        z = np.abs(weighted.mean(axis=0) - reference) / se
        self.assertLess(z.max(), 5.0, f"weighted mean off the full meta-gradient: z={z}")
        se_u = unweighted.std(axis=0, ddof=1) / np.sqrt(DRAWS)
        self.assertGreater(np.max(np.abs(unweighted.mean(axis=0) - reference) / se_u), 20.0)
        # Smaller: its mean is sum_l p_l t_l, with every p_l below 0.9.
        self.assertLess(np.linalg.norm(unweighted.mean(axis=0)), 0.8 * np.linalg.norm(reference))
        # The pattern with every gate on: weights 1 / p_l, not the full meta-gradient.
        all_on = table[(1.0,) * n]
        np.testing.assert_allclose(all_on[1], reference, rtol=1e-9, atol=1e-13)
        self.assertGreater(np.abs(all_on[0] - reference).max(), 1e-3 * np.abs(reference).max())

    def test_every_gate_on_with_weights_is_the_full_method(self):
        """Fixed gates have keep probability 1: inverse_prob changes nothing."""
        full, shape = make(famus=False)
        gated, _ = make(famus=True, gate_policy="fixed", candidates="all",
                        gate_weighting="inverse_prob")
        batch = fx.batches(shape)
        a, b = full.train_step(*batch), gated.train_step(*batch)
        np.testing.assert_allclose(b["example_weights"], a["example_weights"], rtol=1e-10)

    def test_on_probability_is_the_gate_frequency_at_any_temperature(self):
        logits = tf.constant([0.3, -0.9], tf.float64)
        p = float(sampler_lib.on_probability(logits))
        self.assertAlmostEqual(p, 1 / (1 + np.exp(1.2)), places=12)
        for tau in (0.5, 5.0):
            gates = tau_draws(logits, tau).numpy()
            self.assertLess(abs(gates.mean() - p) / np.sqrt(p * (1 - p) / DRAWS), 5.0)


if __name__ == "__main__":
    from absl.testing import absltest
    absltest.main()
