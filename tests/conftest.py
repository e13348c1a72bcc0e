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

# The suite runs on two pytest-xdist workers (pytest.ini: `-n 2 --dist loadscope`, a
# test class or module stays on one worker, so its shared set-up runs once). Workers
# take scopes in collection order; starting the few end-to-end modules that take a
# minute or more first keeps one worker from finishing long after the other.
SLOW_FIRST = ("test_multi_worker", "test_cotrain_loop", "test_resume", "test_cotrain_flagfiles",
              "test_study", "test_own_data_run", "test_main", "test_nonfinite", "test_records",
              "test_clothing1m", "test_heads", "test_webvision", "test_bench")


def pytest_collection_modifyitems(items):
    def rank(item):
        module = item.module.__name__.rsplit(".", 1)[-1]
        return SLOW_FIRST.index(module) if module in SLOW_FIRST else len(SLOW_FIRST)
    items.sort(key=rank)  # stable: the order inside each module is kept
