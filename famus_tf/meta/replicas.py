"""Global quantities of a step that runs per replica under `tf.distribute`.

The engine's step is written for one replica holding a shard of the global batch.
Everything that the single-device maths defines over the whole batch goes through
this module, so that the distributed step equals the single-device step on the same
global batch:

  batch_mean(x)   the mean over the global batch of per-example values, as the local
                  contribution (local sum / global size); summed over replicas it is
                  the global mean, and it needs no communication.
  all_sum(x)      the sum over replicas (differentiable: its gradient is the all-sum
                  of the upstream gradients, so second-order paths through a global
                  normaliser are exact).
  assign(v, x)    writes a value every replica computed alike into a variable.
  all_gather(x)   the global batch of per-example values (every replica's shard,
                  concatenated in replica order), e.g. for per-example state that
                  the cross-replica part of a step updates once.

Gradients handed to a Keras optimizer are local contributions: Keras sums them over
replicas before it applies them. Outside a strategy (or with one replica) every
function here is the identity or plain arithmetic, so the single-device graph is
unchanged (and XLA-compilable).
"""
import tensorflow as tf


def num_replicas():
    """Replicas in sync in the current replica context (1 outside a strategy)."""
    ctx = tf.distribute.get_replica_context()
    return ctx.num_replicas_in_sync if ctx is not None else 1


def replica_id():
    """This replica's id in sync (a tensor in a replica context, 0 outside)."""
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return tf.constant(0, tf.int32)
    return tf.cast(ctx.replica_id_in_sync_group, tf.int32)


def all_sum(x):
    """Sum over replicas of a tensor or nested structure (identity with one replica)."""
    if num_replicas() == 1 or not tf.nest.flatten(x):
        return x
    return tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, x)


def all_gather(x):
    """The global batch of per-example tensors (a nested structure of [n, ...]): the
    replicas' shards concatenated along axis 0 in replica order (identity with one
    replica)."""
    if num_replicas() == 1 or not tf.nest.flatten(x):
        return x
    return tf.distribute.get_replica_context().all_gather(x, axis=0)


def all_mean(x):
    """Mean over replicas (identity with one replica)."""
    return scale_for_sum(all_sum(x))


def global_size(x):
    """Number of examples in the global batch, for a per-example tensor `x` [n, ...]."""
    return tf.cast(tf.shape(x)[0] * num_replicas(), x.dtype)


def batch_mean(x):
    """This replica's contribution to the global-batch mean of per-example values."""
    return tf.reduce_sum(x) / global_size(x)


def scale_for_sum(x):
    """A value every replica computes alike, divided so that the replicas' sum is x
    (for gradients of replicated losses that a Keras optimizer will sum)."""
    n = num_replicas()
    if n == 1:
        return x
    return tf.nest.map_structure(lambda t: t / n, x)


def assign(variables, values):
    """Assigns values every replica computed alike (identical on every replica)."""
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1 or not variables:
        for var, value in zip(variables, values):
            var.assign(value)
        return

    def update(strategy, values):
        for var, value in zip(variables, values):
            strategy.extended.update(_tf_variable(var), lambda v, x: v.assign(x), args=(value,))

    ctx.merge_call(update, args=(list(values),))


def _tf_variable(var):
    """The tf.Variable under a Keras variable (Keras wraps the distributed variable)."""
    return getattr(var, "value", var) if not isinstance(var, tf.Variable) else var
