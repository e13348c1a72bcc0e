"""Label-noise flags."""
from absl import flags

from famus_tf.config import NoiseConfig
from famus_tf.data import noise
from flags.fill import check_with, fill

D = NoiseConfig()


def define(fv):
    flags.DEFINE_enum("noise_type", D.noise_type, list(noise.NOISE_TYPES), "Label-noise model.",
                      flag_values=fv)
    flags.DEFINE_float("noise_rate", D.rate, "Noise rate r.", lower_bound=0.0, upper_bound=1.0,
                       flag_values=fv)
    flags.DEFINE_integer("noise_seed", D.seed, "Seed of the noise and of the meta-set split.",
                         flag_values=fv)
    flags.DEFINE_string("noise_transition", D.transition, "For noise_type=transition: rows "
                        "separated by ';', entries by ',' (e.g. '0.8,0.2;0.1,0.9').", flag_values=fv)
    check_with(fv, "noise_transition", noise.parse_transition)
    flags.DEFINE_string("noise_file", D.path, "For noise_type=file: noisy labels, one per line "
                        "(text, '#' comments), a .npy of integer labels, or a .npz with the "
                        "arrays " + noise.NPZ_KEYS + ", one label per training image in the data "
                        "set's order (as the run's noisy_labels.npz).",
                        flag_values=fv)


def config(fv):
    return fill(NoiseConfig, fv, {"rate": "noise_rate", "seed": "noise_seed", "path": "noise_file"},
                transition=noise.parse_transition(fv.noise_transition))
