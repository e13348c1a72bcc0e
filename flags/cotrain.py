"""Algorithm 2 flags: the pseudo-clean meta set and the co-training recipe
(famus_tf/cotrain/; ALGORITHM.md §7, §8)."""
from absl import flags

from famus_tf.config import CotrainConfig
from famus_tf.cotrain import mixmatch
from flags.fill import fill

D = CotrainConfig()


def define(fv):
    flags.DEFINE_enum("meta_set", D.meta_set, ["clean", "pseudo_clean"],
                      "Where the meta (validation) set comes from. clean: the clean meta set of "
                      "the MW-Net protocol (--meta_per_class examples per class, or the data "
                      "set's own clean split). pseudo_clean: Algorithm 2 of the supplement: two "
                      "networks, each trained on the labeled/unlabeled/meta split made by the "
                      "other network's GMM on its per-example losses, with MixMatch; no clean "
                      "labels are needed. With --method=plain it is the co-training recipe "
                      "without a meta step (DivideMix-style).", flag_values=fv)
    flags.DEFINE_integer("warmup_epochs", D.warmup_epochs, "pseudo_clean: epochs of plain "
                         "cross-entropy (both networks, the initial lr) before the first split; "
                         "--epochs, --lr_epochs and the lambda_u ramp count from their end.", lower_bound=0,
                         flag_values=fv)
    flags.DEFINE_float("p_threshold", D.p_threshold, "pseudo_clean: an example is labeled when "
                       "its clean probability exceeds this.", lower_bound=0.0, upper_bound=1.0,
                       flag_values=fv)
    flags.DEFINE_float("meta_threshold", D.meta_threshold, "pseudo_clean: an example is in the "
                       "meta set when its clean probability exceeds this.", lower_bound=0.0,
                       upper_bound=1.0, flag_values=fv)
    flags.DEFINE_float("lambda_u", D.lambda_u, "pseudo_clean: weight of the unlabeled MSE term, "
                       "ramped linearly over the first 16 epochs after the warm-up.",
                       lower_bound=0.0, flag_values=fv)
    flags.DEFINE_float("mix_alpha", D.mix_alpha, "pseudo_clean: MixUp lambda ~ Beta(alpha, alpha), "
                       "lambda' = max(lambda, 1 - lambda).", lower_bound=0.0, flag_values=fv)
    flags.DEFINE_float("temperature", D.temperature, "pseudo_clean: sharpening temperature of "
                       "label co-refinement and co-guessing.", lower_bound=1e-6, flag_values=fv)
    flags.DEFINE_enum("cotrain_recipe", D.recipe, list(mixmatch.RECIPES),
                      "pseudo_clean: targets per part. famus (official code): both parts take the "
                      "refined label as CE target and the co-guess as MSE target. dividemix: "
                      "labeled rows the refined label, unlabeled rows the co-guess.", flag_values=fv)
    flags.DEFINE_boolean("prior_penalty", D.prior, "pseudo_clean: add the prior penalty "
                         "sum_c pi_c log(pi_c / mean p_c) (uniform pi) to the training and meta "
                         "losses (official code).", flag_values=fv)


def config(fv):
    return fill(CotrainConfig, fv, {"recipe": "cotrain_recipe", "prior": "prior_penalty"})
