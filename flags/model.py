"""Model flags."""
from absl import flags

from famus_tf.config import RunConfig
from famus_tf.models import AUTO, HEADS, MODEL_NAMES

D = RunConfig()


def define(fv):
    flags.DEFINE_enum("model", D.model, list(MODEL_NAMES) + [AUTO], "Base network (auto: "
                      "resnet50 with --weights_path, else preact_resnet18 from scratch).",
                      flag_values=fv)
    flags.DEFINE_string("weights_path", D.weights_path, "Local weights file to start from (never "
                        "downloaded).", flag_values=fv)
    flags.DEFINE_enum("head", D.head, list(HEADS), "Classifier head: linear, or cosine (the "
                      "normalised classifier of LDAM; needs --loss=ldam, whose scale s turns its "
                      "cosine logits into logits, also in the exported SavedModel).", flag_values=fv)
