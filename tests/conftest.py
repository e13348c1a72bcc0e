"""Shared test set-up: quiet TensorFlow, two logical CPUs. (famus_tf and flags are
installed by `pip install -r requirements.txt`, which holds `-e .`.)"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

from absl import flags  # noqa: E402

import tensorflow as tf  # noqa: E402

# Two logical CPU devices, so that tests can run tf.distribute strategies over two
# replicas (must happen before TensorFlow initialises its devices). Single-device code
# still places everything on /cpu:0.
tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * 2)

# absltest helpers (create_tempdir) read flags; under pytest nothing parses argv.
if not flags.FLAGS.is_parsed():
    flags.FLAGS.mark_as_parsed()
