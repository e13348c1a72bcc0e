"""Distribution flags: which tf.distribute strategy runs the step, on which devices."""
from absl import flags

from famus_tf.config import RunConfig
from famus_tf.train.distribute import STRATEGIES

D = RunConfig()


def define(fv):
    flags.DEFINE_enum("strategy", D.strategy, list(STRATEGIES),
                      "default: one device; mirrored: every local GPU (or --devices); "
                      "multi_worker_mirrored: the workers of TF_CONFIG; tpu: --tpu_address.",
                      flag_values=fv)
    flags.DEFINE_list("devices", list(D.devices), "Devices of --strategy=mirrored (e.g. "
                      "/gpu:0,/gpu:1); empty: every local GPU.", flag_values=fv)
    flags.DEFINE_integer("logical_cpus", D.logical_cpus, "Split the CPU into this many logical "
                         "devices (to try --strategy=mirrored --devices=/cpu:0,/cpu:1 on a machine "
                         "without GPUs).", lower_bound=0, flag_values=fv)
    flags.DEFINE_string("tpu_address", D.tpu_address, "TPU name or grpc:// address for "
                        "--strategy=tpu.", flag_values=fv)
    flags.DEFINE_bool("sync_batchnorm", D.sync_batchnorm, "BatchNorm statistics over the global "
                      "batch (all replicas) instead of each replica's shard.", flag_values=fv)
