"""Base-network optimiser and learning-rate schedule flags."""
from absl import flags

from famus_tf.config import OptimConfig, RunConfig
from flags.fill import check_with, fill, ints

D = OptimConfig()


def define(fv):
    flags.DEFINE_float("lr", D.lr, "Base learning rate alpha.", lower_bound=0.0, flag_values=fv)
    flags.DEFINE_float("momentum", D.momentum, "SGD momentum.", lower_bound=0.0, flag_values=fv)
    flags.DEFINE_bool("nesterov", D.nesterov, "Nesterov momentum.", flag_values=fv)
    flags.DEFINE_float("weight_decay", D.weight_decay, "PyTorch-style (coupled) weight decay.",
                       lower_bound=0.0, flag_values=fv)
    flags.DEFINE_float("lr_decay", D.lr_decay, "Factor applied at every boundary.", lower_bound=0.0,
                       flag_values=fv)
    flags.DEFINE_list("lr_epochs", list(RunConfig().lr_epochs), "Epochs at which the learning rate "
                      "decays (from that epoch on). With --meta_set=pseudo_clean counted from the "
                      "end of the warm-up, as the official script does: 200 is the 200th "
                      "co-training epoch.", flag_values=fv)
    flags.DEFINE_list("lr_steps", list(D.lr_boundaries), "Iterations at which the learning rate "
                      "decays.", flag_values=fv)
    for name in ("lr_epochs", "lr_steps"):
        check_with(fv, name, lambda values, name=name: ints(name, values))
    flags.DEFINE_float("virtual_lr", D.virtual_lr, "Fixed virtual-step learning rate, > 0 (unset: "
                       "the current scheduled lr; the MLC code uses 1e-3).", flag_values=fv)


def config(fv):
    return fill(OptimConfig, fv, lr_boundaries=ints("lr_steps", fv.lr_steps))
