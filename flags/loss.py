"""Training-loss flags shared by every method: CE, or LDAM with deferred re-weighting."""
from absl import flags

from famus_tf.config import MetaConfig, RunConfig

D = MetaConfig()


def define(fv):
    flags.DEFINE_enum("loss", D.loss, ["ce", "ldam"], "Training loss of every method: "
                      "cross-entropy or LDAM (Cao et al. 2019); see famus_tf/meta/losses.py.",
                      flag_values=fv)
    flags.DEFINE_float("ldam_max_margin", D.ldam_max_margin, "LDAM: the largest class margin.",
                       lower_bound=0.0, flag_values=fv)
    flags.DEFINE_float("ldam_scale", D.ldam_scale, "LDAM: logit scale s.", lower_bound=0.0,
                       flag_values=fv)
    flags.DEFINE_integer("drw_epoch", RunConfig().drw_epoch, "Deferred re-weighting from this "
                         "epoch on (class weights from the effective number of samples); 0: off.",
                         lower_bound=0, flag_values=fv)
    flags.DEFINE_float("drw_beta", D.drw_beta, "DRW: beta of the effective number of samples, "
                       "in [0, 1).", lower_bound=0.0, upper_bound=1.0, flag_values=fv)
