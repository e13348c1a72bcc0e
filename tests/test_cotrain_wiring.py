"""Co-divide in the trainer (famus_tf/cotrain/trainer.py), not just the swap: each
network's split is made by the GMM on that network's own per-example losses, and the
streams of network k's co-training epoch are built from the other network's split
(Algorithm 2 lines 2-5). The loss pass leaves every BatchNorm statistic alone."""
import numpy as np
from absl import flags
from absl.testing import absltest

import flags as _famus_flags  # noqa: F401
from famus_tf import main
from famus_tf.cotrain import divide, streams
from famus_tf.cotrain.trainer import CoTrainer


def experiment(model_dir):
    f = flags.FLAGS
    f.unparse_flags()
    try:
        f(["famus", f"--flagfile={main.QUICKSTART}", "--meta_set=pseudo_clean", "--warmup_epochs=1",
           "--epochs=1", "--compare_baseline=false", "--num_segments=0", f"--model_dir={model_dir}"])
        return main.build_experiment(f)
    finally:
        f.unparse_flags()
        f.mark_as_parsed()


class CoDivideTest(absltest.TestCase):

    def test_each_network_trains_on_the_split_of_the_other(self):
        trainer = CoTrainer(experiment(self.create_tempdir().full_path))
        trainer.start()
        # The two networks differ (their own seeds), so their losses and splits differ.
        data, n = streams.split_input(trainer.data, trainer.exp.data, trainer.exp.run.seed, 1)
        own = [lp(data, num_examples=trainer.num_examples) for lp in trainer.loss_passes]
        self.assertGreater(np.abs(own[0] - own[1]).max(), 1e-4)
        seen = {}
        real = trainer.streams_of.cotrain

        def record(epoch, network, split, *rest):
            seen[network] = split
            return real(epoch, network, split, *rest)

        trainer.streams_of.cotrain = record
        trainer._iterate = lambda *args: True  # the epoch's iterations are not run
        trainer.train_epoch(1, 0)  # the first co-training epoch (after one warm-up epoch)
        lo, hi = divide.guard_bounds(n, trainer.exp.data.batch_size)
        cfg, seed = trainer.exp.cotrain, trainer.exp.run.seed
        for k in (0, 1):
            made = trainer.splits[k].value()  # network k's GMM, on network k's losses
            direct = divide.split(own[k], divide.split_seed(seed, 1, k + 1), cfg.p_threshold,
                                  cfg.meta_threshold, lo, hi)
            np.testing.assert_array_equal(made.labeled, direct.labeled)
            np.testing.assert_allclose(made.clean_prob, direct.clean_prob)
            # ... and trains the other network
            np.testing.assert_array_equal(seen[1 - k].labeled_indices, made.labeled_indices)
            np.testing.assert_array_equal(seen[1 - k].unlabeled_indices, made.unlabeled_indices)
        self.assertFalse(np.array_equal(trainer.splits[0].value().labeled,
                                        trainer.splits[1].value().labeled))

    def test_the_loss_pass_leaves_batchnorm_statistics_alone(self):
        trainer = CoTrainer(experiment(self.create_tempdir().full_path))
        trainer.start()
        data, _ = streams.split_input(trainer.data, trainer.exp.data, trainer.exp.run.seed, 1)
        for model, lp in zip(trainer.models, trainer.loss_passes):
            before = [v.numpy().copy() for v in model.non_trainable_variables]
            self.assertNotEmpty(before)  # the small CNN has BatchNorm
            lp(data, num_examples=trainer.num_examples)
            for b, v in zip(before, model.non_trainable_variables):
                np.testing.assert_array_equal(b, v.numpy(), err_msg=v.path)


if __name__ == "__main__":
    absltest.main()
