"""Shared test set-up: quiet TensorFlow, make the repository root importable."""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import flags  # noqa: E402

# absltest helpers (create_tempdir) read flags; under pytest nothing parses argv.
if not flags.FLAGS.is_parsed():
    flags.FLAGS.mark_as_parsed()
