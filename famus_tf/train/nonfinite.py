"""The non-finite guard: every step checks the training loss and the update it applied,
inside the compiled loop, and a bad step either stops the run or is skipped.

Per step, one `tf.math.is_finite` reduction over the step's scalar losses and over the
variables the step wrote (the base network, the meta model, the samplers: if they were
finite before, they are finite after exactly when the applied update - the gradient,
the meta-gradient, the sampler update - was). The result is a code carried in the
multi-step `tf.while_loop`: 0 when every quantity is finite, else 1 + the index of the
first non-finite quantity in `Guard.quantities`. No host round-trip per step: the host
reads the first bad step and its code once per call (`Guard.after_call`).

  stop (default)  the call ends at the first bad step; the host raises `NonFinite`
                  (one line naming the step and the quantity, exit code 1) before the
                  next checkpoint is written, so the checkpoints on disk stay the good
                  ones and nothing is exported; the same command, with the cause fixed,
                  resumes from the last good checkpoint.
  skip            the step's writes are undone in the graph (every variable and
                  optimizer slot is restored from a copy taken before the step; the
                  iteration counters advance, so the bad batch is consumed), the step
                  is left out of the call's metric sums, and it is counted
                  (`skipped`, TensorBoard `train/nonfinite_skipped`). The copy costs one
                  read of the state per step, in skip mode only.

A training loop uses it as: `guard = Guard(mode, quantities, state)`, in the loop body
`snap = guard.snapshot()`, the step, `code = guard.check(metrics)`,
`guard.undo(code, snap)`; after the call `guard.after_call(first_bad, code, step)`.
`for_learner` builds the guard of a MetaLearner; `for_learners` the one guard of a
co-training iteration (network 1's step, then network 2's): the learners' quantities and
states concatenated, the quantities named by network. `guarded_loop` is such a loop body
in a `tf.while_loop`, for loops whose iteration is not the one-network step.
"""
import keras
import tensorflow as tf

MODES = ("stop", "skip")

# Scalar metrics of a step that are losses, and how the messages name them.
METRIC_LABELS = {"loss": "training loss", "val_loss": "meta (validation) loss",
                 "loss_r": "sampler loss", "loss_g": "gradient-matching loss",
                 "loss_u": "unlabeled (co-guess) loss",
                 "example_weights": "example weights (the meta-gradient's phi)"}


class NonFinite(RuntimeError):
    """A non-finite value at a step (the message names the step and the quantity)."""


def _tf_variable(v):
    return v.value if isinstance(v, keras.Variable) else v


def state_variables(objects):
    """Every variable of `objects` (models, optimizers, lists of variables or models)
    except the optimizers' iteration counters."""
    out = []
    for obj in objects:
        if isinstance(obj, (list, tuple)):
            out += state_variables(obj)
        elif isinstance(obj, keras.optimizers.Optimizer):
            out += [v for v in obj.variables if v is not obj.iterations]
        elif hasattr(obj, "variables") and not isinstance(obj, (tf.Variable, keras.Variable)):
            out += list(obj.variables)
        else:
            out.append(obj)
    return out


def all_finite(tensors):
    """One boolean: every element of every tensor is finite."""
    flags = [tf.reduce_all(tf.math.is_finite(tf.convert_to_tensor(t))) for t in tensors]
    return tf.reduce_all(tf.stack(flags)) if flags else tf.constant(True)


class Guard:
    """The check of one training loop.

    Args:
      mode: 'stop' or 'skip'.
      metrics: names of the step's metrics to check (those in METRIC_LABELS are used).
      groups: [(label, variables)] the step writes, e.g. ('base network update', ...).
      state: every variable to restore in skip mode (see `state_variables`).
    """

    def __init__(self, mode, metrics, groups, state=()):
        if mode not in MODES:
            raise ValueError(f"--on_nonfinite: one of {', '.join(MODES)}, got {mode!r}")
        self.mode = mode
        self.metrics = [m for m in METRIC_LABELS if m in metrics]
        self.groups = [(label, [_tf_variable(v) for v in vs]) for label, vs in groups if vs]
        self.quantities = [METRIC_LABELS[m] for m in self.metrics] + [g for g, _ in self.groups]
        self.state = [_tf_variable(v) for v in state] if mode == "skip" else []

    def snapshot(self):
        """Copies of the state before a step (skip mode; nothing in stop mode)."""
        return [tf.identity(v.read_value()) for v in self.state]

    def check(self, metrics):
        """int32 code: 0 if every quantity is finite, else 1 + index of the first bad one."""
        oks = [all_finite([metrics[m]]) for m in self.metrics]
        oks += [all_finite([v.read_value() for v in vs]) for _, vs in self.groups]
        if not oks:
            return tf.constant(0, tf.int32)
        bad = tf.logical_not(tf.stack(oks))
        return tf.where(tf.reduce_any(bad),
                        tf.cast(tf.argmax(tf.cast(bad, tf.int32)), tf.int32) + 1, 0)

    def undo(self, code, snapshot):
        """Skip mode: restores the state from `snapshot` if `code` is not 0."""
        if self.mode != "skip" or not self.state:
            return tf.no_op()

        def restore():
            with tf.control_dependencies([v.assign(s) for v, s in zip(self.state, snapshot)]):
                return tf.no_op()
        return tf.cond(code > 0, restore, tf.no_op)

    def describe(self, code):
        return self.quantities[int(code) - 1]

    def after_call(self, first_bad, code, step):
        """Host side, once per call: `first_bad` is the index in the call of the first bad
        step (-1: none), `code` its check code, `step` the run's step before the call.
        Stop mode: raises NonFinite naming the step (1-based) and the quantity."""
        first_bad = int(first_bad)
        if first_bad < 0 or self.mode != "stop":
            return
        raise NonFinite(
            f"non-finite {self.describe(code)} at step {step + first_bad + 1}; stopped before "
            f"saving it (the checkpoints on disk are the last good ones). Lower --lr or "
            f"--meta_lr and run the same command to resume, or use --on_nonfinite=skip.")


def for_learner(mode, learner, metrics=None):
    """The guard of a MetaLearner's step: its losses (`metrics`: the names the step
    returns; default those of `train_step`), then the base network, the meta model and
    the samplers (the updates they received)."""
    meta_vars = list(learner.method.meta_variables) if learner.method is not None else []
    groups = [("base network update", learner.model.variables),
              ("meta-gradient update of the meta model", meta_vars),
              ("sampler update", learner.sampler_variables)]
    if metrics is None:
        metrics = learner.scalar_metrics() + (["example_weights"] if learner.method is not None else [])
    return Guard(mode, metrics, groups,
                 state_variables(learner.trackables().values()))


def for_learners(mode, learners, metrics):
    """One guard over the steps of several learners run in one iteration (co-training:
    network 1's step, then network 2's). `check` takes {f"net{k + 1}/{name}": value}
    for the `metrics` each step returns; a quantity is named "network k's ...";
    skip mode restores every learner's state when any quantity is non-finite."""
    parts = [for_learner(mode, learner, metrics) for learner in learners]
    guard = Guard(mode, (), ())
    guard.metrics = [f"net{k + 1}/{m}" for k, p in enumerate(parts) for m in p.metrics]
    guard.groups = [(f"network {k + 1}'s {label}", vs) for k, p in enumerate(parts)
                    for label, vs in p.groups]
    guard.quantities = ([f"network {k + 1}'s {METRIC_LABELS[m]}" for k, p in enumerate(parts)
                         for m in p.metrics] + [label for label, _ in guard.groups])
    guard.state = [v for p in parts for v in p.state]
    return guard


def guarded_loop(guard, n, iteration, add, init):
    """Runs `n` guarded iterations in one `tf.while_loop` (stop mode: up to the first bad
    one). `iteration()` runs one iteration and returns (the metrics `guard.check` reads,
    its outputs); `add(state, outputs, ok)` folds them into the loop state (`ok` False:
    the iteration was bad, leave it out of sums). Returns (state, index in the call of
    the first bad iteration or -1, its code, the number of bad iterations)."""
    def body(i, state, first_bad, bad_code, skipped):
        snapshot = guard.snapshot()
        checked, outputs = iteration()
        code = guard.check(checked)
        with tf.control_dependencies([guard.undo(code, snapshot)]):
            ok = tf.equal(code, 0)
        new_bad = tf.logical_and(first_bad < 0, tf.logical_not(ok))
        return (i + 1, add(state, outputs, ok), tf.where(new_bad, i, first_bad),
                tf.where(new_bad, code, bad_code), skipped + tf.cast(tf.logical_not(ok), tf.int32))

    def cond(i, state, first_bad, *_):
        return tf.logical_and(i < n, first_bad < 0) if guard.mode == "stop" else i < n

    init = (tf.constant(0), init, tf.constant(-1), tf.constant(0), tf.constant(0))
    return tf.while_loop(cond, body, init)[1:]
