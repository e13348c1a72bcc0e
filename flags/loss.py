"""Training-loss flags shared by every method: CE, or LDAM with deferred re-weighting."""
from absl import flags

flags.DEFINE_enum("loss", "ce", ["ce", "ldam"], "Training loss of every method: cross-entropy or "
                  "LDAM (Cao et al. 2019); see famus_tf/meta/losses.py.")
flags.DEFINE_float("ldam_max_margin", 0.5, "LDAM: the largest class margin.", lower_bound=0.0)
flags.DEFINE_float("ldam_scale", 30.0, "LDAM: logit scale s.", lower_bound=0.0)
flags.DEFINE_integer("drw_epoch", 0, "Deferred re-weighting from this epoch on (class weights "
                     "from the effective number of samples); 0: off.", lower_bound=0)
flags.DEFINE_float("drw_beta", 0.9999, "DRW: beta of the effective number of samples.",
                   lower_bound=0.0, upper_bound=1.0)  # < 1, checked in main
