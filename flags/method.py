"""Meta-learning method flags (the meta model and its optimiser, beta)."""
from absl import flags

from famus_tf import models
from famus_tf.config import MetaConfig
from famus_tf.meta.actual import ACTUAL_STEPS
from flags.fill import fill

D = MetaConfig()


def define(fv):
    flags.DEFINE_enum("method", D.method, ["plain", "mwnet", "l2r", "mlc"], "Training method. mlc "
                      "sums its loss over the batch (as MLC's code), so its --lr is per summed "
                      "example: divide a mean-loss learning rate by the batch size.",
                      flag_values=fv)
    flags.DEFINE_float("meta_lr", D.meta_lr, "beta: meta-model learning rate.", lower_bound=0.0,
                       flag_values=fv)
    flags.DEFINE_float("meta_momentum", D.meta_momentum, "Meta-model SGD momentum (Nesterov).",
                       lower_bound=0.0, flag_values=fv)
    flags.DEFINE_float("meta_weight_decay", D.meta_weight_decay, "Meta-model weight decay.",
                       lower_bound=0.0, flag_values=fv)
    flags.DEFINE_bool("normalise_weights", D.normalise_weights, "MW-Net: normalise example weights "
                      "to sum 1.", flag_values=fv)
    flags.DEFINE_integer("weighting_hidden", D.weighting_hidden, "MW-Net weighting network width.",
                         lower_bound=1, flag_values=fv)
    flags.DEFINE_enum("mlc_update", D.mlc_update, ["learned", "official"],
                      "MLC's update of T: learned (a meta model trained with --meta_lr, momentum, "
                      "decay; the FaMUS supplement) or official (the MLC code: T = I every step, one "
                      "plain step of --mlc_t_step, clip at 0, column-normalise).", flag_values=fv)
    flags.DEFINE_enum("actual_step", D.actual_step, list(ACTUAL_STEPS),
                      "The actual step's gradient. recompute (the paper, Eq. 5): example weights "
                      "from the meta model after this step's meta update, a second backward pass "
                      "through the training batch. reuse: the virtual step's own gradient (weights "
                      "from the meta model before the update, which reaches w one step later): one "
                      "backward pass fewer per step. mwnet and mlc (learned T) only; not l2r.",
                      flag_values=fv)
    flags.DEFINE_float("mlc_t_step", D.mlc_t_step, "MLC official update: step size on T.",
                       lower_bound=0.0, flag_values=fv)


def config(fv):
    """The MetaConfig (method, FaMUS and model flags): `last_stage` candidates expanded for
    --model, the number of traced segments resolved (0 with XLA or on a TPU)."""
    segments = fv.num_segments
    if segments is None:
        segments = 0 if fv.xla or fv.strategy == "tpu" else D.num_segments
    model = models.resolve(fv.model, fv.weights_path)
    return fill(MetaConfig, fv, candidates=models.parse_candidates(fv.candidates, model),
                head_prefix=models.head_prefix(model), num_segments=segments)
