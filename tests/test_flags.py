"""The flags of famus_tf.main: one source of defaults (famus_tf/config.py), and the format
checks of the modules that own each format."""
from absl import flags
from absl.testing import absltest

import flags as famus_flags
from famus_tf import config, main
from famus_tf.meta.step import GATE_POLICIES


class FlagsTest(absltest.TestCase):

    def parse(self, *args):
        fv = flags.FlagValues()
        famus_flags.define_all(fv)
        fv(["famus", *args])
        return fv

    def test_no_flag_given_builds_the_dataclass_defaults(self):
        exp = main.build_experiment(self.parse())
        self.assertEqual(exp, config.Experiment(config.RunConfig(), config.DataConfig(),
                                                config.NoiseConfig(), config.MetaConfig(),
                                                config.OptimConfig(), config.CotrainConfig()))

    def test_every_gate_policy_of_the_engine_is_a_flag_value(self):
        self.assertEqual(flags.FLAGS["gate_policy"].parser.enum_values, list(GATE_POLICIES))
        self.assertEqual(main.build_experiment(self.parse("--gate_policy=off")).meta.gate_policy,
                         "off")

    def test_last_stage_expanded_once_for_the_model(self):
        exp = main.build_experiment(self.parse("--candidates=last_stage", "--model=resnet32"))
        self.assertEqual(exp.meta.candidates, "block:stage3")

    def test_formats_are_checked_at_parsing_by_their_owners(self):
        for args, needle in ((["--augment=crop_flip:x"], "unknown augmentation"),
                             (["--candidates=lowest"], "--candidates"),
                             (["--cnwl_level=0.3"], "0.0, 0.2, 0.4, 0.6, 0.8"),
                             (["--noise_transition=1,a"], "cannot parse"),
                             (["--lr_steps=1,b"], "comma-separated integers")):
            with self.assertRaisesRegex(flags.IllegalFlagValueError, needle):
                self.parse(*args)
        exp = main.build_experiment(self.parse("--augment=resized_crop:7", "--cnwl_level=0.8",
                                               "--noise_transition=0.8,0.2;0.1,0.9", "--lr_steps=3,5"))
        self.assertEqual((exp.data.augment, exp.data.cnwl_level), ("resized_crop:7", 0.8))
        self.assertEqual(exp.noise.transition, ((0.8, 0.2), (0.1, 0.9)))
        self.assertEqual(exp.optim.lr_boundaries, (3, 5))

    def test_precision_flag_and_its_refusals(self):
        self.assertEqual(main.build_experiment(self.parse("--precision=mixed_bfloat16")).run.precision,
                         "mixed_bfloat16")
        with self.assertRaisesRegex(flags.IllegalFlagValueError, "precision"):
            self.parse("--precision=float64")
        with self.assertRaisesRegex(main.FlagError, "--precision=mixed_float16 runs on one device"):
            main.build_experiment(self.parse("--precision=mixed_float16", "--strategy=mirrored"))
        with self.assertRaisesRegex(main.FlagError, "Algorithm 2"):
            main.build_experiment(self.parse("--precision=mixed_bfloat16", "--meta_set=pseudo_clean"))

    def test_mlc_warns_of_a_summed_loss_step_above_one(self):
        with self.assertLogs("absl", level="WARNING") as logs:
            main.build_experiment(self.parse("--method=mlc", "--lr=0.1", "--batch_size=64"))
        self.assertIn("a step of 6.4 on the mean loss", "\n".join(logs.output))
        with self.assertNoLogs("absl", level="WARNING"):
            main.build_experiment(self.parse("--method=mlc", "--lr=0.0015625", "--batch_size=64"))
            main.build_experiment(self.parse("--method=mwnet", "--lr=0.1", "--batch_size=64"))


if __name__ == "__main__":
    absltest.main()
