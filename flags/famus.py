"""FaMUS flags: candidates, gates, samplers and the auxiliary losses."""
from absl import flags

from famus_tf import models
from famus_tf.config import MetaConfig
from famus_tf.meta.step import GATE_POLICIES, GATE_WEIGHTINGS
from flags.fill import check_with

D = MetaConfig()


def define(fv):
    flags.DEFINE_bool("famus", D.famus, "Gate the second-order paths with FaMUS samplers.",
                      flag_values=fv)
    flags.DEFINE_enum("gate_policy", D.gate_policy, list(GATE_POLICIES),
                      "learned samplers; random: Random-K ablation; fixed: every candidate on "
                      "(the fixed-block ablation); off: no candidate on (timing reference).",
                      flag_values=fv)
    flags.DEFINE_enum("gate_weighting", D.gate_weighting, list(GATE_WEIGHTINGS),
                      "none: the paper's gated meta-gradient (Eq. 9), the sum of the kept "
                      "tensors' terms (smaller than the full one); inverse_prob: each kept "
                      "candidate term divided by its keep probability (the sampler's 'on' "
                      "probability, K/N for Random-K, floored at 0.05), an unbiased estimate of "
                      "the full meta-gradient (not in the paper or its code). The samplers' own "
                      "training signal is the same either way (docs/methods.md).", flag_values=fv)
    flags.DEFINE_string("candidates", D.candidates, "Gated tensors: all | top:N | "
                        "block:PREFIX[,PREFIX] | last_stage (the model's last stage).", flag_values=fv)
    check_with(fv, "candidates", models.check_candidates)
    flags.DEFINE_bool("head_always_on", D.head_always_on, "Keep the classifier's second-order path "
                      "always on.", flag_values=fv)
    flags.DEFINE_integer("num_active", D.num_active, "K: expected number of active tensors "
                         "(Eq. 10).", lower_bound=1, flag_values=fv)
    flags.DEFINE_float("lambda_r", D.lambda_r, "lambda_1: weight of L_r.", lower_bound=0.0,
                       flag_values=fv)
    flags.DEFINE_float("lambda_g", D.lambda_g, "lambda_2: weight of L_g.", lower_bound=0.0,
                       flag_values=fv)
    flags.DEFINE_enum("lr_loss", D.lr_loss, ["paper", "code"], "L_r as Eq. 10 (paper) or on the "
                      "last gate only (official code).", flag_values=fv)
    flags.DEFINE_enum("lg_loss", D.lg_loss, ["paper", "code"], "L_g as Eq. 11 (paper) or moment "
                      "matching (official code).", flag_values=fv)
    flags.DEFINE_float("gumbel_tau", D.gumbel_tau, "Gumbel-softmax temperature.", lower_bound=1e-6,
                       flag_values=fv)
    flags.DEFINE_integer("sampler_hidden", D.sampler_hidden, "Sampler hidden size.", lower_bound=1,
                         flag_values=fv)
    flags.DEFINE_enum("sampler_depth", D.sampler_depth, ["paper", "code"], "2 FC layers (paper) or "
                      "3 (code).", flag_values=fv)
    flags.DEFINE_float("sampler_lr", D.sampler_lr, "delta: sampler learning rate.", lower_bound=0.0,
                       flag_values=fv)
    flags.DEFINE_float("sampler_momentum", D.sampler_momentum, "Sampler SGD momentum (Nesterov).",
                       lower_bound=0.0, flag_values=fv)
    flags.DEFINE_integer("num_segments", None, "Traced branches over the candidates (speed only); "
                         f"0 = one graph with the gates as masks. Default: {D.num_segments}, or 0 "
                         "with --xla or on a TPU (XLA takes minutes to compile the branches).",
                         lower_bound=0, flag_values=fv)
