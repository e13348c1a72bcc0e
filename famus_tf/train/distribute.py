"""The one strategy factory, and what a run needs to know about its place in a cluster.

  default                 one device (whatever TensorFlow places on: a GPU if there is one)
  mirrored                every local GPU, or the devices named (e.g. '/cpu:0,/cpu:1')
  multi_worker_mirrored   synchronous data parallelism over the workers of `TF_CONFIG`
  tpu                     a TPU from `tpu_address` (or the one the environment names)

The library never places ops on devices itself: models, the meta model, samplers and
every optimiser are created under `strategy.scope()`, the input is distributed with
`distribute_datasets_from_function`, and the step runs under `strategy.run` (see
meta/replicas.py for how the per-replica step equals the single-device one).
"""
import os
import tempfile

import keras
import tensorflow as tf

from famus_tf.meta.functional import sublayers

STRATEGIES = ("default", "mirrored", "multi_worker_mirrored", "tpu")


def build_strategy(name="default", devices=(), tpu_address=""):
    """A tf.distribute.Strategy by name. Raises ValueError naming a bad value."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = list(devices) or None
        cross = None
        if devices and all("cpu" in d.lower() for d in devices):
            cross = tf.distribute.ReductionToOneDevice()  # no NCCL between CPU devices
        return tf.distribute.MirroredStrategy(devices=devices, cross_device_ops=cross)
    if name == "multi_worker_mirrored":
        if "TF_CONFIG" not in os.environ:
            raise ValueError("--strategy=multi_worker_mirrored needs the cluster in the TF_CONFIG "
                             "environment variable (see BUILD.md)")
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu_address or None)
        except ValueError as e:
            raise ValueError(f"--strategy=tpu: no TPU found ({e}); name one with --tpu_address") from e
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"--strategy: unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")


def logical_cpus(n):
    """Splits the CPU into `n` logical devices (before TensorFlow initialises its devices),
    for testing and benchmarking distribution on a machine without GPUs."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    current = tf.config.get_logical_device_configuration(cpu)
    if not current or len(current) < n:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)
    return [f"/cpu:{i}" for i in range(n)]


def sync_batchnorm(model):
    """Makes every BatchNormalization layer of `model` use global-batch statistics."""
    for layer in sublayers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.synchronized = True
    return model


def is_chief(strategy):
    """True on the process that writes checkpoints, summaries and exports."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True
    return resolver.task_type == "chief" or (
        resolver.task_type == "worker" and resolver.task_id == 0
        and "chief" not in resolver.cluster_spec().as_dict())


def write_dir(model_dir, strategy):
    """Where this process writes: the model directory on the chief, a private temporary
    directory on other workers (they must write too: saving is a collective)."""
    if is_chief(strategy):
        return model_dir
    resolver = strategy.cluster_resolver
    return tempfile.mkdtemp(prefix=f"famus_{resolver.task_type}_{resolver.task_id}_")


def distribute_batch(strategy, batch):
    """Splits a global batch (tuple of tensors) into consecutive per-replica shards."""
    n = strategy.num_replicas_in_sync

    def shard(ctx):
        i = ctx.replica_id_in_sync_group
        return tuple(t[i * (t.shape[0] // n):(i + 1) * (t.shape[0] // n)] for t in batch)

    return strategy.experimental_distribute_values_from_function(shard)


def run_step(strategy, step, dist_batch):
    """`strategy.run(step)`; returns the first replica's results (the step's scalars are
    global and equal on every replica)."""
    out = strategy.run(step, args=tuple(dist_batch))
    return tf.nest.map_structure(lambda v: strategy.experimental_local_results(v)[0], out)
