"""Label-noise flags."""
from absl import flags

from famus_tf.data.noise import NOISE_TYPES

flags.DEFINE_enum("noise_type", "symmetric", list(NOISE_TYPES), "Label-noise model.")
flags.DEFINE_float("noise_rate", 0.4, "Noise rate r.", lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_integer("noise_seed", 0, "Seed of the noise and of the meta-set split.")
flags.DEFINE_string("noise_transition", None, "For noise_type=transition: rows separated by ';', "
                    "entries by ',' (e.g. '0.8,0.2;0.1,0.9').")
flags.DEFINE_string("noise_file", None, "For noise_type=file: noisy labels (.npz or one per line).")
