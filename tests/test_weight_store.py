"""The per-example weight store (train/weight_store.py) in the compiled multi-step loop:
equal to a hand computation from the steps' returned weights and the stream's indices,
the same under MirroredStrategy over two logical CPUs as on one device, untouched by
steps the non-finite guard skips; and suspects.csv's meta_weight column is the store's."""
import dataclasses
import os

import keras
import numpy as np
import tensorflow as tf
from absl.testing import absltest

from famus_tf.config import DataConfig, MetaConfig, OptimConfig
from famus_tf.data import records
from famus_tf.data.prepared import Prepared
from famus_tf.meta.step import MetaLearner
from famus_tf.train import distribute, inputs, nonfinite, suspects
from famus_tf.train.loop import _multi_step
from famus_tf.train.weight_store import WeightStore

N, B, CLASSES, LAST = 20, 8, 4, 3
CFG = DataConfig(batch_size=B, meta_batch_size=4)


def _data(seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (N, 5, 5, 1)).astype(np.uint8)
    labels = rng.integers(0, CLASSES, N).astype(np.int64)
    meta = rng.integers(0, 256, (8, 5, 5, 1)).astype(np.uint8), np.arange(8) % CLASSES
    test = images[:0], labels[:0]
    return Prepared("toy", CLASSES, (5, 5, 1), (0.4,), (0.3,), images, labels, labels.copy(),
                    *meta, *test)


def _run(method, strategy, calls, guard_mode="stop", poison_after=None):
    """(store, [per call: the step's returned weights], [per call: the batch's indices],
    [per call: the store's (counts, values) after it, and the guard's skipped-step count])
    after `calls` one-step calls of the training loop on `strategy`."""
    keras.utils.set_random_seed(0)
    data = _data()
    with strategy.scope():
        inp = keras.Input((5, 5, 1))
        model = keras.Model(inp, keras.layers.Dense(CLASSES, name="head_fc")(
            keras.layers.Flatten()(inp)))
        learner = MetaLearner(model, CLASSES, MetaConfig(method=method, famus=False, meta_lr=0.5),
                              OptimConfig(lr=0.1))
    store = WeightStore(N, last=LAST)
    train_it, meta_it = inputs.streams(strategy, data, CFG, 0, 10, True)
    twin, _ = inputs.streams(tf.distribute.get_strategy(), data, CFG, 0, 10, False)
    guard = nonfinite.for_learner(guard_mode, learner)
    loop = tf.function(_multi_step(strategy, learner, train_it, meta_it, data.mean, data.std, 0,
                                   B // strategy.num_replicas_in_sync, "none", guard=guard,
                                   store=store), autograph=False)
    weights, index, states = [], [], []
    for k in range(calls):
        if k == poison_after:  # non-finite example weights from here on: every step skipped
            learner.method.meta_variables[0].assign(
                np.full(learner.method.meta_variables[0].shape, np.nan, np.float32))
        out = loop(tf.constant(1))
        weights.append(out[2].numpy())
        index.append(next(twin)[3].numpy())
        states.append((store.counts.numpy(), store.values.numpy(), int(out[6])))
    return store, weights, index, states


def _by_hand(weights, index):
    """Mean of B * weight over each example's last LAST appearances (NaN: none)."""
    seen = [[] for _ in range(N)]
    for w, idx in zip(weights, index):
        for wi, i in zip(w, idx):
            seen[i].append(len(w) * wi)
    return np.array([np.mean(s[-LAST:]) if s else np.nan for s in seen])


class WeightStoreTest(absltest.TestCase):

    def test_store_equals_hand_computation_from_the_steps(self):
        for method in ("mwnet", "l2r"):
            store, weights, index, _ = _run(method, tf.distribute.get_strategy(), calls=10)
            self.assertTrue(np.all(np.abs(np.concatenate(weights).sum() - 10) < 1e-4))  # sum 1
            np.testing.assert_array_equal(store.counts.numpy(),
                                          np.bincount(np.concatenate(index), minlength=N))
            self.assertGreater(store.counts.numpy().max(), LAST)  # the ring buffer wrapped
            expected = _by_hand(weights, index)
            np.testing.assert_allclose(store.means(), expected, rtol=1e-5, equal_nan=True)
            self.assertGreater(np.nanstd(expected), 0.01, method)  # not uniform weights

    def test_mirrored_equals_one_device(self):
        mirrored = distribute.build_strategy("mirrored", distribute.logical_cpus(2))
        self.assertEqual(mirrored.num_replicas_in_sync, 2)
        one = _run("mwnet", tf.distribute.get_strategy(), calls=4)[0]
        two = _run("mwnet", mirrored, calls=4)[0]
        self.assertEqual(int(two.counts.numpy().sum()), 4 * B)  # every row exactly once
        np.testing.assert_array_equal(two.counts.numpy(), one.counts.numpy())
        np.testing.assert_allclose(two.values.numpy(), one.values.numpy(), rtol=1e-5, atol=1e-6)

    def test_skipped_steps_leave_the_store_alone(self):
        _, weights, _, states = _run("mwnet", tf.distribute.get_strategy(), calls=4,
                                     guard_mode="skip", poison_after=2)
        self.assertEqual(int(states[1][0].sum()), 2 * B)  # two good steps written
        self.assertEqual([skipped for *_, skipped in states], [0, 0, 1, 1])
        for counts, values, _ in states[2:]:  # then two skipped ones: nothing
            np.testing.assert_array_equal(counts, states[1][0])
            np.testing.assert_array_equal(values, states[1][1])
        # The guard saw the bad steps by the meta model's NaN variable whatever the kernels
        # made of the weights: with the first layer's kernel NaN, TensorFlow's Eigen kernels
        # carry the NaN through the weighting network's ReLU; oneDNN's fused Dense + ReLU maps
        # it to 0, so every example gets sigmoid(second layer's bias) and the sum-normalised
        # weights come out uniform (1/B) and finite.
        last = weights[-1]
        self.assertTrue(np.isnan(last).all() or np.allclose(last, 1.0 / B), last)

    def test_index_travels_with_its_example_on_every_input_path(self):
        """Images, labels and clean flags are those of the training set at `index`: arrays
        shuffled, in a class-balanced order, sharded over two replicas; PNG files (one
        corrupt, skipped); TFRecords (image i is the constant 8 * i)."""
        data = _data()
        root = self.create_tempdir().full_path
        paths = np.array([os.path.join(root, f"{i}.png") for i in range(N)])
        for i, p in enumerate(paths):
            tf.io.write_file(p, tf.io.encode_png(np.full((6, 6, 3), 8 * i, np.uint8)))
        tf.io.write_file(paths[4], b"not an image")
        files = dataclasses.replace(data, train_images=paths, image_shape=(6, 6, 3), decode_size=6)
        records.write_records(paths, {"label": data.train_labels, "clean": data.train_clean},
                              os.path.join(root, "rec"), "train", 6, num_shards=2,
                              log=lambda m: None)
        mirrored = distribute.build_strategy("mirrored", distribute.logical_cpus(2))
        one = tf.distribute.get_strategy()
        cases = [(one, data, CFG), (one, dataclasses.replace(data, balanced_batches=2), CFG),
                 (mirrored, data, CFG), (one, files, CFG),
                 (mirrored, files, dataclasses.replace(CFG, records_dir=os.path.join(root, "rec")))]
        for strategy, d, cfg in cases:
            it, _ = inputs.streams(strategy, d, cfg, 0, 2, False)
            seen = []
            for _ in range(5):
                for x, y, c, i in zip(*[strategy.experimental_local_results(t) for t in next(it)]):
                    x, y, c, i = x.numpy(), y.numpy(), c.numpy(), i.numpy()
                    np.testing.assert_array_equal(y, data.train_labels[i])
                    self.assertTrue(c.all())
                    if d.decode_size:
                        np.testing.assert_allclose(x.reshape(len(i), -1).mean(1), 8.0 * i, atol=1)
                    else:
                        np.testing.assert_array_equal(x, data.train_images[i])
                    seen.append(i)
            self.assertEqual(sum(map(len, seen)), 5 * B)
            if d.decode_size:
                self.assertNotIn(4, np.concatenate(seen))  # the corrupt file was skipped

    def test_suspects_column_is_the_store(self):
        data = _data()
        store = WeightStore(N, last=LAST)
        store.update(tf.constant([3, 7, 3, 11]), tf.constant([0.1, 0.2, 0.3, 0.4]))
        means = store.means()
        np.testing.assert_allclose(means[[3, 7, 11]], [0.8, 0.8, 1.6], rtol=1e-6)
        self.assertEqual(int(np.isnan(means).sum()), N - 3)  # never seen
        keras.utils.set_random_seed(0)
        inp = keras.Input((5, 5, 1))
        model = keras.Model(inp, keras.layers.Dense(CLASSES)(keras.layers.Flatten()(inp)))
        rows = suspects.read_suspects(suspects.write_suspects(
            self.create_tempdir().full_path, model, data, batch_size=8, meta_weight=means))
        for r in rows:
            m = means[int(r["index"])]
            if np.isnan(m):
                self.assertEqual(r["meta_weight"], "")
            else:
                self.assertAlmostEqual(float(r["meta_weight"]), m, places=5)


if __name__ == "__main__":
    absltest.main()
