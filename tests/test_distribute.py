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
