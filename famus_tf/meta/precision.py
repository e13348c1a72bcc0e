"""Mixed precision of the base network, and dynamic loss scaling for float16.

`--precision` (RunConfig.precision) is one of

  float32         everything in float32 (or `keras.config.floatx()`), the default;
  mixed_bfloat16  the base network is built under Keras' `mixed_bfloat16` dtype policy:
                  its variables are float32, its forward and backward passes run in
                  bfloat16 (8 exponent bits, as float32: no loss scaling is needed);
  mixed_float16   the same with float16 (5 exponent bits: small gradients underflow),
                  with dynamic loss scaling. For GPUs; on a CPU it is slow.

Only the base network changes. The weighting network / meta model, the samplers, the
losses, the example weights phi, the virtual step w_hat = w - alpha * g, the
validation gradients u, the meta-gradient dL_val/dphi and every optimizer stay in
float32: `functional.forward` casts the logits to the variables' dtype, so everything
downstream of the logits is float32, and every gradient with respect to the (float32)
weights comes back in float32 through the cast of each variable inside the layers.

Loss scaling (mixed_float16). With a scale S the engine's backward passes through the
network carry S times their true values, and every gradient leaves the network
unscaled, exactly:

  * `forward` passes the weights through `_scale_gradient(., 1/S)` (identity forward,
    gradient divided by S) and the logits through `_scale_gradient(., S)` (gradient
    multiplied by S). So d(anything)/dw through a forward pass is J^T (S delta) / S:
    the float16 backward sees S delta, and the virtual-step gradient g, the validation
    gradient u and the actual step's gradient are unscaled (and in float32) before the
    non-finite check and before any update, without a change at their call sites.
  * The second-order path (virtual.meta_gradient) is a backward pass *of* that backward
    graph, from the kept g_l(phi) to phi with output gradients c_l = -alpha * u_l. Its
    adjoints meet the 1/S of the weights' hook first, so inside the network they carry
    c / S * (S-free terms): tiny c (alpha * u, often 1e-5) would underflow. The
    meta-gradient therefore multiplies its output gradients by S^2 and divides the
    result by S^2 (`second_order_scale`), so that inside the network the adjoints
    carry S * c, like the first-order passes.

Dynamic scale (the semantics of keras.optimizers.LossScaleOptimizer, implemented here
because the engine applies its own updates): S starts at 2^15; a step whose unscaled
gradients hold an inf or NaN skips every update from that point on (the sampler, meta
model and base network updates are each applied only if every gradient checked so
far in the step is finite; `apply`) and halves S; after 2000 consecutive good steps S
doubles. The virtual-step gradient and the meta-gradient dL/dphi enter later
computations (w_hat, the gates, L2R's weights), so a non-finite one is replaced by
zeros in value (`finite_or_zero`) and marks the step bad: the losses the step reports
stay finite, and the run's non-finite guard (train/nonfinite.py) sees only what loss
scaling cannot fix (a non-finite forward pass). mixed_float16 runs on one device:
under tf.distribute the conditional updates would put Keras' cross-replica gradient
sum inside a `tf.cond`, which TensorFlow refuses, so `Precision` raises (the checks
already reduce their finiteness over replicas). mixed_bfloat16 needs no scaling and
runs under any strategy.
"""
import contextlib
import weakref

import keras
import tensorflow as tf

from famus_tf.meta import replicas

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
INITIAL_SCALE = 2.0 ** 15
GROWTH_INTERVAL = 2000


def check(precision):
    """Returns `precision` if it is one of PRECISIONS, else raises ValueError naming the flag."""
    if precision not in PRECISIONS:
        raise ValueError(f"--precision: one of {', '.join(PRECISIONS)}, got {precision!r}")
    return precision


@contextlib.contextmanager
def policy_scope(precision):
    """Layers built inside follow the Keras dtype policy of a mixed `precision`
    (the global policy is restored afterwards). For 'float32' nothing changes."""
    check(precision)
    if precision == "float32":
        yield
        return
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def compute_dtype(model):
    """The dtype of the model's forward pass (float16 / bfloat16 under a mixed policy)."""
    return tf.as_dtype(model.dtype_policy.compute_dtype)


def _scale_gradient(x, scale):
    """Identity in the forward pass; the gradient is multiplied by `scale` (a tensor).
    Differentiable again (the gradient function is a product), for the meta-gradient."""
    @tf.custom_gradient
    def identity(t):
        return tf.identity(t), lambda dy: dy * tf.cast(scale, dy.dtype)
    return identity(x)


_SCALES = weakref.WeakKeyDictionary()


class Precision:
    """The precision of one MetaLearner's base network: the forward hooks, the checks and
    the conditional updates. `dynamic` (float16) holds the loss-scale variables; otherwise
    every method is the identity or the plain call, and the graph is unchanged."""

    def __init__(self, model):
        self.compute_dtype = compute_dtype(model)
        self.dynamic = self.compute_dtype == tf.float16
        self._flags = []
        if self.dynamic:
            self.scale = tf.Variable(INITIAL_SCALE, dtype=tf.float32, trainable=False,
                                     name="loss_scale")
            self.good_steps = tf.Variable(0, dtype=tf.int64, trainable=False,
                                          name="loss_scale_good_steps")
            if tf.distribute.get_strategy().num_replicas_in_sync > 1:
                raise ValueError(
                    "--precision=mixed_float16 runs on one device only (its skipped updates "
                    "are conditional, and Keras' optimizers cannot all-reduce inside a "
                    "condition); use mixed_bfloat16 under tf.distribute")
            _SCALES[model] = self

    def variables(self):
        """The loss-scale state (to checkpoint), empty without loss scaling."""
        return [self.scale, self.good_steps] if self.dynamic else []

    def second_order_scale(self):
        """The factor of the meta-gradient's output gradients (S^2; 1 without scaling)."""
        if not self.dynamic:
            return None
        return tf.square(tf.stop_gradient(self.scale.read_value()))

    def begin_step(self):
        self._flags = []

    def _finite(self, tensors):
        """One boolean, identical on every replica: every element of `tensors` is finite."""
        bad = tf.add_n([tf.reduce_sum(tf.cast(tf.logical_not(tf.math.is_finite(tf.convert_to_tensor(t))),
                                              tf.float32)) for t in tf.nest.flatten(tensors)])
        return tf.equal(replicas.all_sum(bad), 0.0)

    def _ok(self):
        return tf.reduce_all(tf.stack(self._flags)) if self._flags else tf.constant(True)

    def finite_or_zero(self, tensors):
        """`tensors`, or zeros of their shapes if any is non-finite (which marks the step bad)."""
        if not self.dynamic:
            return tensors
        ok = self._finite(tensors)
        self._flags.append(ok)
        return tf.nest.map_structure(lambda t: tf.where(ok, t, tf.zeros_like(t)), tensors)

    def apply(self, optimizer, grads, variables, then=None):
        """optimizer.apply(grads, variables), then `then()` (e.g. BatchNorm statistics);
        with loss scaling, both only if these and every earlier checked gradient of the
        step are finite."""
        if not self.dynamic:
            optimizer.apply(grads, variables)
            if then is not None:
                then()
            return
        self._flags.append(self._finite(grads))

        def update():
            optimizer.apply(grads, variables)
            if then is not None:
                then()
            return tf.constant(True)
        tf.cond(self._ok(), update, lambda: tf.constant(False))

    def end_step(self):
        """Updates the dynamic scale from the step's checks (halve after a bad step, double
        after GROWTH_INTERVAL good ones)."""
        if not self.dynamic:
            return
        ok = self._ok()
        grow = tf.logical_and(ok, self.good_steps + 1 >= GROWTH_INTERVAL)
        scale = tf.where(ok, tf.where(grow, 2.0 * self.scale, self.scale),
                         tf.maximum(self.scale / 2.0, 1.0))
        count = tf.where(ok, tf.where(grow, tf.zeros_like(self.good_steps), self.good_steps + 1),
                         tf.zeros_like(self.good_steps))
        replicas.assign([self.scale, self.good_steps], [scale, count])
        self._flags = []


def forward_hooks(model, weights):
    """(weights to pass to the network, a function of its outputs giving the logits):
    the logits in the weights' dtype, and with loss scaling the gradient hooks."""
    state = _SCALES.get(model)
    dtype = weights[0].dtype if weights else None

    def logits_out(outputs):
        if dtype is not None and outputs.dtype != dtype:
            outputs = tf.cast(outputs, dtype)
        return _scale_gradient(outputs, scale) if state is not None else outputs

    if state is None:
        return weights, logits_out
    scale = tf.stop_gradient(state.scale.read_value())
    return [_scale_gradient(w, 1.0 / scale) for w in weights], logits_out
