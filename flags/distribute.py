"""Distribution flags: which tf.distribute strategy runs the step, on which devices."""
from absl import flags

flags.DEFINE_enum("strategy", "default", ["default", "mirrored", "multi_worker_mirrored", "tpu"],
                  "default: one device; mirrored: every local GPU (or --devices); "
                  "multi_worker_mirrored: the workers of TF_CONFIG; tpu: --tpu_address.")
flags.DEFINE_list("devices", [], "Devices of --strategy=mirrored (e.g. /gpu:0,/gpu:1); "
                  "empty: every local GPU.")
flags.DEFINE_integer("logical_cpus", 0, "Split the CPU into this many logical devices (to try "
                     "--strategy=mirrored --devices=/cpu:0,/cpu:1 on a machine without GPUs).",
                     lower_bound=0)
flags.DEFINE_string("tpu_address", "", "TPU name or grpc:// address for --strategy=tpu.")
flags.DEFINE_bool("sync_batchnorm", False, "BatchNorm statistics over the global batch "
                  "(all replicas) instead of each replica's shard.")
