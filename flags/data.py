"""Data flags: which dataset, where it is, batching and the clean meta set."""
from absl import flags

flags.DEFINE_string("dataset", "digits", "Dataset name (digits is embedded; see README).")
flags.DEFINE_string("data_dir", None, "Directory of the prepared dataset (not needed for digits).")
flags.DEFINE_integer("batch_size", 64, "Training batch size.", lower_bound=1)
flags.DEFINE_integer("meta_batch_size", 64, "Meta (validation) batch size per step.", lower_bound=1)
flags.DEFINE_integer("meta_per_class", 10, "Clean meta examples per class, taken out of the "
                     "training data before corruption (MW-Net protocol).", lower_bound=0)
flags.DEFINE_integer("eval_batch_size", 256, "Evaluation batch size.", lower_bound=1)
flags.DEFINE_string("augment", "none", "On-device augmentation: none | crop_flip (pad 4) | "
                    "crop_flip:SIZE | resized_crop:SIZE (see famus_tf/data/augment.py).")
