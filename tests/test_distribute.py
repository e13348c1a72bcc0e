"""The per-replica meta step under MirroredStrategy equals the single-device step.

Two logical CPU devices (tests/conftest.py), float64, a model without BatchNorm and
one with synchronized BatchNorm: after several steps on the same global batches, every
variable (base network, meta model, samplers, optimiser slots) matches.
"""
import keras
import numpy as np
import pytest
import tensorflow as tf

from famus_tf.config import MetaConfig, OptimConfig
from famus_tf.meta.step import MetaLearner
from famus_tf.train import distribute
from tests import meta_fixtures as mf

LDAM_DRW = {"loss": "ldam", "ldam_scale": 2.0, "drw_step": 2}
CASES = [("mlp", "mwnet", False, {}), ("mlp", "mwnet", True, {}), ("mlp", "l2r", False, {}),
         ("mlp", "l2r", True, {}), ("mlp", "mlc", False, {}), ("mlp", "mlc", True, {}),
         ("mlp", "mlc", True, {"mlc_update": "official"}), ("mlp", "plain", False, {}),
         ("mlp", "plain", False, LDAM_DRW), ("mlp", "mwnet", True, LDAM_DRW),
         ("cnn", "mwnet", True, {}), ("mlp", "mwnet", True, {"actual_step": "reuse"}),
         ("mlp", "mlc", False, {"actual_step": "reuse"})]


def _learner(kind, method, famus, strategy, extra):
    keras.utils.set_random_seed(0)
    build, shape = mf.MODELS[kind]
    with strategy.scope():
        model = build()
        if kind == "cnn":
            distribute.sync_batchnorm(model)
        meta = MetaConfig(method=method, famus=famus, candidates="all", head_prefix="head",
                          num_active=2, lambda_g=0.1 if famus else 0.0, meta_lr=0.5,
                          meta_weight_decay=1e-3, sampler_lr=0.1, seed=3, **extra)
        return MetaLearner(model, 4, meta, OptimConfig(lr=0.1, weight_decay=5e-4),
                           class_counts=[40, 12, 5, 2]), shape


def _state(learner):
    variables = list(learner.model.variables) + list(learner.optimizer.variables)
    if learner.method is not None:
        variables += list(learner.method.meta_variables)
    for s in learner.samplers:
        variables += list(s.variables)
    return [np.array(v.numpy()) for v in variables]


@pytest.fixture(scope="module", autouse=True)
def _float64():
    mf.float64()
    yield
    mf.float32()


@pytest.mark.parametrize("kind,method,famus,extra", CASES)
def test_mirrored_step_equals_single_device(kind, method, famus, extra):
    mirrored = distribute.build_strategy("mirrored", distribute.logical_cpus(2))
    assert mirrored.num_replicas_in_sync == 2
    single, shape = _learner(kind, method, famus, tf.distribute.get_strategy(), extra)
    dist, _ = _learner(kind, method, famus, mirrored, extra)
    for a, b in zip(_state(single), _state(dist)):
        np.testing.assert_array_equal(a, b)  # same start
    single_step = tf.function(single.train_step, autograph=False)
    dist_step = tf.function(lambda *b: distribute.run_step(mirrored, dist.train_step, b),
                            autograph=False)
    gates_seen = []
    for k in range(4):
        batch = mf.batches(shape, n=12, m=6, seed=k)
        out_single = single_step(*batch)
        out_dist = dist_step(*distribute.distribute_batch(mirrored, batch))
        for key in ("loss", "accuracy", "val_loss", "loss_g"):
            if key in out_single:
                np.testing.assert_allclose(out_dist[key], out_single[key], rtol=1e-10, atol=1e-12)
        if "gates" in out_single:
            np.testing.assert_array_equal(out_dist["gates"], out_single["gates"])
            gates_seen.append(out_single["gates"].numpy())
    changed = False
    for a, b, start in zip(_state(single), _state(dist), _state(_learner(kind, method, famus,
                                                                           tf.distribute.get_strategy(),
                                                                           extra)[0])):
        np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12)
        changed |= not np.allclose(a, start)
    assert changed  # the steps did train
    if famus and method != "plain":
        assert len({tuple(g) for g in gates_seen}) >= 1
    if extra.get("mlc_update") == "official":  # the T of the last step, identical
        np.testing.assert_allclose(dist.method.transition.numpy(), single.method.transition.numpy(),
                                   rtol=1e-10, atol=1e-12)
        assert np.abs(single.method.transition.numpy() - np.eye(4)).max() > 1e-4


def test_sync_batchnorm_reaches_every_batchnorm_layer():
    """The public layer walk finds every BatchNormalization of a real model: one per
    moving-mean variable."""
    from famus_tf import models
    from famus_tf.meta.functional import sublayers
    model = distribute.sync_batchnorm(models.build_model("preact_resnet18", 10, (32, 32, 3)))
    bns = [layer for layer in sublayers(model) if isinstance(layer, keras.layers.BatchNormalization)]
    moving = [v for v in model.non_trainable_variables if v.path.endswith("moving_mean")]
    assert len(bns) == len(moving) > 10
    assert all(layer.synchronized for layer in bns)
    assert len({id(layer) for layer in sublayers(model)}) == len(sublayers(model))


def test_replica_helpers_are_identity_on_one_device():
    from famus_tf.meta import replicas
    x = tf.constant([1.0, 2.0, 3.0])
    assert replicas.num_replicas() == 1
    np.testing.assert_array_equal(replicas.all_sum(x), x)
    assert float(replicas.batch_mean(x)) == pytest.approx(2.0)


def test_unknown_strategy_and_missing_tf_config_are_named(monkeypatch):
    with pytest.raises(ValueError, match="--strategy"):
        distribute.build_strategy("nccl")
    monkeypatch.delenv("TPU_NAME", raising=False)
    with pytest.raises(ValueError, match="--tpu_address"):
        distribute.build_strategy("tpu")
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG"):
        distribute.build_strategy("multi_worker_mirrored")


def test_skip_under_mirrored_equals_one_device():
    """--on_nonfinite=skip under MirroredStrategy (2 replicas): a batch with NaN inputs on
    the second replica only is skipped (every variable and slot as before it), counted
    once (not once per replica), and the next step proceeds; every variable equals one
    device running the same three steps. (Plain cross-entropy: the restore does not
    depend on the method, test_nonfinite covers the meta methods end to end; a MW-Net
    learner here costs 20 s instead of 9.)"""
    from famus_tf.train import nonfinite
    mirrored = distribute.build_strategy("mirrored", distribute.logical_cpus(2))
    shape = mf.MODELS["mlp"][1]
    parts = [mf.batches(shape, n=12, m=6, seed=k) for k in range(3)]
    x1 = parts[1][0].numpy()
    x1[8] = np.nan  # row 8 of 12: the second replica's half
    parts[1] = (tf.constant(x1),) + tuple(parts[1][1:])
    train = tf.data.Dataset.from_tensor_slices(tuple(tf.concat([p[i] for p in parts], 0)
                                                     for i in (0, 1))).batch(12)
    meta = tf.data.Dataset.from_tensor_slices(tuple(tf.concat([p[i] for p in parts], 0)
                                                    for i in (2, 3))).batch(6)
    results = {}
    for name, strategy in (("single", tf.distribute.get_strategy()), ("mirrored", mirrored)):
        learner, _ = _learner("mlp", "plain", False, strategy, {})
        guard = nonfinite.for_learner("skip", learner)
        train_it = iter(strategy.experimental_distribute_dataset(train))
        meta_it = iter(strategy.experimental_distribute_dataset(meta))

        def iteration():
            (x, y), (xv, yv) = next(train_it), next(meta_it)
            m = distribute.run_step(strategy, learner.train_step, (x, y, xv, yv))
            return m, m["loss"]

        loop = tf.function(lambda n: nonfinite.guarded_loop(
            guard, n, iteration, lambda s, loss, ok: s + tf.where(ok, loss, 0.0),
            tf.zeros([], tf.float64)), autograph=False)
        calls, states = [], []
        for _ in range(3):  # one step per call: good, bad, good
            calls.append([np.array(v) for v in loop(tf.constant(1))])
            states.append(_state(learner))
        results[name] = calls, states
        assert [int(c[3]) for c in calls] == [0, 1, 0]  # the skipped count: once
        assert [int(c[1]) for c in calls] == [-1, 0, -1]  # the first bad step of each call
        assert guard.describe(calls[1][2]) == "training loss"  # the global loss: NaN on both
        assert float(calls[1][0]) == 0.0  # left out of the sums
        assert all(np.isfinite(a).all() for a in states[1])
        iterations = [i for i, v in enumerate(learner.optimizer.variables) if v is learner.optimizer.iterations]
        for k, (before, after) in enumerate(zip(states[0], states[1])):
            if k - len(learner.model.variables) not in iterations:
                np.testing.assert_array_equal(after, before)  # the bad step changed nothing
        assert any(not np.allclose(a, b) for a, b in zip(states[1], states[2]))  # the next one trains
    for (c_single, s_single), (c_dist, s_dist) in [(results["single"], results["mirrored"])]:
        for a, b in zip(c_single, c_dist):
            np.testing.assert_allclose(b[0], a[0], rtol=1e-10)
        for a, b in zip(s_single[-1], s_dist[-1]):
            np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12)
