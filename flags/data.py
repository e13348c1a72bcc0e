"""Data flags: which dataset, where it is, batching and the clean meta set."""
from absl import flags

from famus_tf.config import DataConfig
from famus_tf.data import augment, cnwl, datasets
from flags.fill import check_with, fill

D = DataConfig()


def _cnwl_level(value):
    if value not in cnwl.LEVELS:
        raise ValueError(f"--cnwl_level: one of {', '.join(map(str, cnwl.LEVELS))}, got {value}")


def define(fv):
    flags.DEFINE_enum("dataset", D.dataset, list(datasets.DATASETS),
                      "Dataset (famus_tf/data/datasets.py): " + datasets.describe() + ".",
                      flag_values=fv)
    flags.DEFINE_string("data_dir", D.data_dir, "Directory of the prepared dataset (not needed "
                        "for digits).", flag_values=fv)
    flags.DEFINE_integer("batch_size", D.batch_size, "Training batch size.", lower_bound=1,
                         flag_values=fv)
    flags.DEFINE_integer("meta_batch_size", D.meta_batch_size, "Meta (validation) batch size per "
                         "step.", lower_bound=1, flag_values=fv)
    flags.DEFINE_integer("meta_per_class", D.meta_per_class, "Clean meta examples per class, taken "
                         "out of the training data before corruption (MW-Net protocol).",
                         lower_bound=0, flag_values=fv)
    flags.DEFINE_integer("eval_batch_size", D.eval_batch_size, "Evaluation batch size.",
                         lower_bound=1, flag_values=fv)
    flags.DEFINE_string("augment", D.augment, "On-device augmentation: " + augment.FORMATS +
                        " (see famus_tf/data/augment.py).", flag_values=fv)
    check_with(fv, "augment", augment.parse)
    flags.DEFINE_float("imbalance", D.imbalance, "Long-tailed CIFAR: imbalance factor n_max/n_min.",
                       lower_bound=1.0, flag_values=fv)
    flags.DEFINE_string("label_set", D.label_set, "CIFAR-N label set: aggregate, random1, random2, "
                        "random3, worst (CIFAR-10N); noisy_fine (CIFAR-100N).", flag_values=fv)
    flags.DEFINE_enum("source", D.source, ["auto", "python", "tfds"], "CIFAR on-disk form: the "
                      "python batches, a TFDS data_dir, or whichever is found.", flag_values=fv)
    flags.DEFINE_integer("num_batches", D.num_batches, "Clothing1M and WebVision: class-balanced "
                         "batches sampled afresh each epoch (WebVision: 0 = plain shuffled epochs).",
                         lower_bound=0, flag_values=fv)
    flags.DEFINE_float("cnwl_level", D.cnwl_level, "CNWL noise level (which split file): one of "
                       + ", ".join(map(str, cnwl.LEVELS)) + ".", flag_values=fv)
    check_with(fv, "cnwl_level", _cnwl_level)
    flags.DEFINE_integer("image_size", D.image_size, "CNWL: images decoded at this size (32 as the "
                         "paper, or 84). folder, list: the size trained on.", lower_bound=8,
                         flag_values=fv)
    flags.DEFINE_integer("decode_size", D.decode_size, "folder, list: images decoded (resized) to "
                         "this size, 0 = --image_size; larger needs --augment=crop_flip:IMAGE_SIZE "
                         "or resized_crop:IMAGE_SIZE.", lower_bound=0, flag_values=fv)
    flags.DEFINE_string("train_list", D.train_list, "list: file of '<image path> <label>' lines "
                        "(paths relative to --data_dir; labels integers or class names), the "
                        "labels as given.", flag_values=fv)
    flags.DEFINE_string("trusted_list", D.trusted_list, "list: the same form, hand-checked labels "
                        "(the clean meta set).", flag_values=fv)
    flags.DEFINE_string("test_list", D.test_list, "list: the same form, the test set.",
                        flag_values=fv)
    flags.DEFINE_string("class_names", D.class_names, "list: file of class names, one per line "
                        "(line c names class c; default: the sorted names, or 0..C-1, of the "
                        "train list).", flag_values=fv)
    flags.DEFINE_string("records_dir", D.records_dir, "Read the training split from TFRecords "
                        "written by `python -m famus_tf.data.convert` (same data flags) instead of "
                        "decoding the original image files.", flag_values=fv)
    flags.DEFINE_float("holdout_fraction", D.holdout_fraction, "Hold out this fraction of the "
                       "(noisy) training set, stratified by its given labels, never trained on; "
                       "evaluated every epoch as the extra test sets `holdout` (given labels: what "
                       "you can measure without clean labels, for choosing settings without the "
                       "test set) and `holdout_true` (true labels, where known). 0: none.",
                       lower_bound=0.0, upper_bound=0.9, flag_values=fv)


def config(fv):
    return fill(DataConfig, fv)
