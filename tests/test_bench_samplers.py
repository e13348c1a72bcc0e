"""The bench's trained-sampler statistics, precision speed-ups and CPU bfloat16 check
(pure functions; the timed runs are exercised by the bench itself)."""
import numpy as np
import pytest
import tensorflow as tf

from famus_tf import bench, bench_samplers


def test_gate_stats_on_rates_and_lowest_active_histogram():
    gates = [[0, 1, 1], [1, 0, 1], [0, 0, 0], [0, 1, 0]]
    g = bench_samplers.gate_stats(gates)
    assert g["on_rate"] == [0.25, 0.5, 0.5]
    assert g["mean_active"] == 1.25
    assert g["lowest_active"] == {"0": 1, "1": 2, "none": 1} and g["steps"] == 4
    assert list(g["lowest_active"]) == ["0", "1", "none"]  # depth order, none last


def test_speedups_over_the_float32_row():
    res = {"plain": {"median_ms": 100.0}, "plain@mixed_bfloat16": {"median_ms": 80.0},
           "mwnet_famus": {"median_ms": 300.0}, "mwnet_famus@mixed_bfloat16": {"median_ms": 200.0}}
    bench.speedups(res)
    assert res["plain@mixed_bfloat16"]["speedup_vs_float32"] == 1.25
    assert res["mwnet_famus@mixed_bfloat16"]["speedup_vs_float32"] == 1.5
    assert "speedup_vs_float32" not in res["plain"]


def test_digits_stream_shapes_noise_and_clean_meta_batch():
    stream = bench_samplers.digits_stream(32, 3, 64, noise=0.4)
    x, y, xv, yv = next(stream)
    assert x.shape == (64, 32, 32, 3) and xv.shape == (64, 32, 32, 3)
    assert x.dtype == "float32" and y.dtype == "int64"
    np.testing.assert_array_equal(x.numpy()[..., 0], x.numpy()[..., 2])  # grey tiled to 3 channels
    assert set(np.unique(yv.numpy())) <= set(range(10))


def test_copy_state_copies_networks_and_samplers_only_when_asked():
    src = bench_samplers.famus_learner("small_cnn", 8, 1, candidates="all", seed=0,
                                       actual_step="reuse")
    keras_weights = [np.full(w.shape, 0.5, np.float32) for w in src.model.get_weights()]
    src.model.set_weights(keras_weights)
    for v in src.method.meta_variables:
        v.assign(tf.fill(v.shape, 0.25))
    for s in src.samplers:
        s.set_weights([np.full(w.shape, 0.125, np.float32) for w in s.get_weights()])
    with_samplers = bench_samplers.famus_learner("small_cnn", 8, 1, candidates="all", seed=1)
    without = bench_samplers.famus_learner("small_cnn", 8, 1, candidates="all", seed=1)
    fresh = [w.copy() for s in without.samplers for w in s.get_weights()]
    bench_samplers.copy_state(src, with_samplers, samplers=True)
    bench_samplers.copy_state(src, without, samplers=False)
    for learner in (with_samplers, without):
        assert all(np.all(w == 0.5) for w in learner.model.get_weights())
        assert all(np.all(v.numpy() == 0.25) for v in learner.method.meta_variables)
    assert all(np.all(w == 0.125) for s in with_samplers.samplers for w in s.get_weights())
    kept = [w for s in without.samplers for w in s.get_weights()]
    assert all(np.array_equal(a, b) for a, b in zip(kept, fresh))
    assert not all(np.all(w == 0.125) for w in kept)


def test_row_names_per_actual_step():
    assert bench_samplers.row_name("recompute", True) == "famus_trained"
    assert bench_samplers.row_name("recompute", False) == "famus_untrained"
    assert bench_samplers.row_name("reuse", True) == "famus_reuse_trained"
    assert bench_samplers.row_name("reuse", False) == "famus_reuse_untrained"


@pytest.mark.parametrize("steps", [("bogus",), ("reuse", "recompute", "both"), ()])
def test_unknown_actual_steps_are_refused_before_any_work(steps):
    with pytest.raises(ValueError, match="actual steps must be some of"):
        bench_samplers.run("small_cnn", 8, 8, 1, train_steps=1, actual_steps=steps,
                           log=lambda *a: pytest.fail("trained before refusing"))
