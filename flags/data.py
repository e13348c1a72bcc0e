"""Data flags: which dataset, where it is, batching and the clean meta set."""
from absl import flags

flags.DEFINE_string("dataset", "digits", "Dataset: digits (embedded), cifar10, cifar100, "
                    "cifar10n, cifar100n, cifar10_lt, cifar100_lt, clothing1m, webvision, cnwl_red, cnwl_blue.")
flags.DEFINE_string("data_dir", None, "Directory of the prepared dataset (not needed for digits).")
flags.DEFINE_integer("batch_size", 64, "Training batch size.", lower_bound=1)
flags.DEFINE_integer("meta_batch_size", 64, "Meta (validation) batch size per step.", lower_bound=1)
flags.DEFINE_integer("meta_per_class", 10, "Clean meta examples per class, taken out of the "
                     "training data before corruption (MW-Net protocol).", lower_bound=0)
flags.DEFINE_integer("eval_batch_size", 256, "Evaluation batch size.", lower_bound=1)
flags.DEFINE_string("augment", "none", "On-device augmentation: none | crop_flip (pad 4) | "
                    "crop_flip:SIZE | resized_crop:SIZE (see famus_tf/data/augment.py).")
flags.DEFINE_float("imbalance", 1.0, "Long-tailed CIFAR: imbalance factor n_max/n_min.",
                   lower_bound=1.0)
flags.DEFINE_string("label_set", "aggregate", "CIFAR-N label set: aggregate, random1, random2, "
                    "random3, worst (CIFAR-10N); noisy_fine (CIFAR-100N).")
flags.DEFINE_enum("source", "auto", ["auto", "python", "tfds"], "CIFAR on-disk form: the python "
                  "batches, a TFDS data_dir, or whichever is found.")
flags.DEFINE_integer("num_batches", 1000, "Clothing1M and WebVision: class-balanced batches "
                     "sampled afresh each epoch (WebVision: 0 = plain shuffled epochs).", lower_bound=0)
flags.DEFINE_enum("cnwl_level", "0.4", ["0.0", "0.2", "0.4", "0.6", "0.8"], "CNWL noise level "
                  "(which split file).")
flags.DEFINE_integer("image_size", 32, "CNWL: images decoded at this size (32 as the paper, or 84).",
                     lower_bound=8)
flags.DEFINE_string("records_dir", None, "Read the training split from TFRecords written by "
                    "`python -m famus_tf.data.convert` (same data flags) instead of decoding the "
                    "original image files.")
