"""Meta-learning method flags (the meta model and its optimiser, beta)."""
from absl import flags

flags.DEFINE_enum("method", "mwnet", ["plain", "mwnet", "l2r", "mlc"], "Training method.")
flags.DEFINE_float("meta_lr", 1e-3, "beta: meta-model learning rate.", lower_bound=0.0)
flags.DEFINE_float("meta_momentum", 0.9, "Meta-model SGD momentum (Nesterov).", lower_bound=0.0)
flags.DEFINE_float("meta_weight_decay", 5e-4, "Meta-model weight decay.", lower_bound=0.0)
flags.DEFINE_bool("normalise_weights", True, "MW-Net: normalise example weights to sum 1.")
flags.DEFINE_integer("weighting_hidden", 100, "MW-Net weighting network width.", lower_bound=1)
flags.DEFINE_enum("mlc_update", "learned", ["learned", "official"],
                  "MLC's update of T: learned (a meta model trained with --meta_lr, momentum, "
                  "decay; the FaMUS supplement) or official (the MLC code: T = I every step, one "
                  "plain step of --mlc_t_step, clip at 0, column-normalise).")
flags.DEFINE_float("mlc_t_step", 0.11, "MLC official update: step size on T.", lower_bound=0.0)
