"""FaMUS flags: candidates, gates, samplers and the auxiliary losses."""
from absl import flags

flags.DEFINE_bool("famus", True, "Gate the second-order paths with FaMUS samplers.")
flags.DEFINE_enum("gate_policy", "learned", ["learned", "random", "fixed"],
                  "learned samplers; random: Random-K ablation; fixed: every candidate on "
                  "(the fixed-block ablation).")
flags.DEFINE_string("candidates", "last_stage", "Gated tensors: all | top:N | block:PREFIX[,PREFIX] "
                    "| last_stage (the model's last stage).")
flags.DEFINE_bool("head_always_on", True, "Keep the classifier's second-order path always on.")
flags.DEFINE_integer("num_active", 4, "K: expected number of active tensors (Eq. 10).", lower_bound=1)
flags.DEFINE_float("lambda_r", 0.1, "lambda_1: weight of L_r.", lower_bound=0.0)
flags.DEFINE_float("lambda_g", 0.1, "lambda_2: weight of L_g.", lower_bound=0.0)
flags.DEFINE_enum("lr_loss", "paper", ["paper", "code"], "L_r as Eq. 10 (paper) or on the last "
                  "gate only (official code).")
flags.DEFINE_enum("lg_loss", "paper", ["paper", "code"], "L_g as Eq. 11 (paper) or moment "
                  "matching (official code).")
flags.DEFINE_float("gumbel_tau", 5.0, "Gumbel-softmax temperature.", lower_bound=1e-6)
flags.DEFINE_integer("sampler_hidden", 128, "Sampler hidden size.", lower_bound=1)
flags.DEFINE_enum("sampler_depth", "paper", ["paper", "code"], "2 FC layers (paper) or 3 (code).")
flags.DEFINE_float("sampler_lr", 0.1, "delta: sampler learning rate.", lower_bound=0.0)
flags.DEFINE_float("sampler_momentum", 0.9, "Sampler SGD momentum (Nesterov).", lower_bound=0.0)
flags.DEFINE_integer("num_segments", None, "Traced branches over the candidates (speed only); "
                     "0 = one graph with the gates as masks. Default: 8, or 0 with --xla (XLA "
                     "takes minutes to compile the branches).", lower_bound=0)
