"""Model flags."""
from absl import flags

from famus_tf.models import MODEL_NAMES

flags.DEFINE_enum("model", "small_cnn", list(MODEL_NAMES), "Base network.")
flags.DEFINE_string("weights_path", None, "Local weights file to start from (never downloaded).")
