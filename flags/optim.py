"""Base-network optimiser and learning-rate schedule flags."""
from absl import flags

flags.DEFINE_float("lr", 0.1, "Base learning rate alpha.", lower_bound=0.0)
flags.DEFINE_float("momentum", 0.9, "SGD momentum.", lower_bound=0.0)
flags.DEFINE_bool("nesterov", True, "Nesterov momentum.")
flags.DEFINE_float("weight_decay", 5e-4, "PyTorch-style (coupled) weight decay.", lower_bound=0.0)
flags.DEFINE_float("lr_decay", 0.1, "Factor applied at every boundary.", lower_bound=0.0)
flags.DEFINE_list("lr_epochs", [], "Epochs at which the learning rate decays.")
flags.DEFINE_list("lr_steps", [], "Iterations at which the learning rate decays.")
flags.DEFINE_float("virtual_lr", None, "Fixed virtual-step learning rate, > 0 (unset: the "
                   "current scheduled lr; the MLC code uses 1e-3).")
