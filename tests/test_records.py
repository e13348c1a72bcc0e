"""TFRecord conversion of image-file splits (data/records.py, data/convert.py)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from famus_tf.data import balanced, images, records
from tests.fixtures import REPO, write_jpeg

SIZE = 24


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """40 listed JPEGs of 3 classes: #5 corrupt, #17 missing; converted to 3 shards."""
    root = tmp_path_factory.mktemp("jpegs")
    rng = np.random.default_rng(0)
    paths = np.asarray([str(root / f"{i % 3}" / f"{i}.jpg") for i in range(40)])
    labels = np.asarray([0] * 20 + [1] * 12 + [2] * 8, np.int64)
    clean = (labels + np.arange(40) % 2) % 3
    for i, p in enumerate(paths):
        if i != 17:
            write_jpeg(p, rng, (30 + i % 7, 28, 3))
    with open(paths[5], "wb") as fh:
        fh.write(b"this is not a jpeg at all" * 4)
    out = str(root / "records")
    logged = []
    meta = records.write_records(paths, {"label": labels, "clean": clean}, out, "train", SIZE,
                                 num_shards=3, log=logged.append)
    return dict(paths=paths, labels=labels, clean=clean, out=out, meta=meta, log=logged)


def test_conversion_writes_shards_and_names_bad_files(converted):
    out, meta = converted["out"], converted["meta"]
    names = [f"train-{k:05d}-of-00003.tfrecord" for k in range(3)]
    assert meta["files"] == names
    assert all(os.path.getsize(os.path.join(out, f)) > 0 for f in names)
    with open(os.path.join(out, "train.json")) as fh:
        on_disk = json.load(fh)
    assert on_disk["count"] == 38 and on_disk["num_paths"] == 40 and on_disk["size"] == SIZE
    assert on_disk["columns"] == ["clean", "label"] and on_disk["num_shards"] == 3
    failed = {f["path"]: f["reason"] for f in on_disk["failed"]}
    assert set(failed) == {converted["paths"][5], converted["paths"][17]}
    assert failed[converted["paths"][17]] == "missing"
    assert failed[converted["paths"][5]].startswith("corrupt")
    assert sum(converted["paths"][5] in line for line in converted["log"]) == 1
    assert sum(converted["paths"][17] in line for line in converted["log"]) == 1
    counts = [sum(1 for _ in tf.data.TFRecordDataset(os.path.join(out, f))) for f in names]
    assert counts == [13, 13, 12]  # round-robin


def test_read_records_matches_decoded_originals(converted):
    ds, meta = records.read_records(converted["out"], "train")
    good = np.asarray([i for i in range(40) if i not in (5, 17)])
    rows = list(ds.as_numpy_iterator())
    np.testing.assert_array_equal([r["index"] for r in rows], good)
    np.testing.assert_array_equal([r["label"] for r in rows], converted["labels"][good])
    np.testing.assert_array_equal([r["clean"] for r in rows], converted["clean"][good])
    for r in rows:
        assert r["image"].shape == (SIZE, SIZE, 3) and r["image"].dtype == np.uint8
        original = images.decode(converted["paths"][r["index"]], SIZE)
        expected = tf.io.decode_jpeg(tf.io.encode_jpeg(original, quality=95)).numpy()
        np.testing.assert_array_equal(r["image"], expected)
    cols = records.written_columns(converted["out"], "train")
    np.testing.assert_array_equal(cols["index"], good)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        records.read_records(os.path.join(converted["out"], "nowhere"), "train")
    with pytest.raises(FileNotFoundError, match="val.json"):
        records.read_records(converted["out"], "val")


def _epochs(out, seed, num_batches, batch_size, epochs):
    ds = records.train_stream(out, "train", batch_size, seed, columns=("label", "index"),
                              balanced=(num_batches, 3), shuffle_buffer=8)
    batches = list(ds.take(num_batches * epochs).as_numpy_iterator())
    assert all(b[0].shape == (batch_size, SIZE, SIZE, 3) for b in batches)
    return batches


def test_balanced_stream_has_the_epochs_of_epoch_indices(converted):
    num_batches, batch_size, seed = 4, 5, 3
    batches = _epochs(converted["out"], seed, num_batches, batch_size, 2)
    cols = records.written_columns(converted["out"], "train")
    for epoch in range(2):
        part = batches[epoch * num_batches:(epoch + 1) * num_batches]
        got_labels = np.concatenate([b[1] for b in part])
        got_index = np.concatenate([b[2] for b in part])
        chosen = balanced.epoch_indices(cols["label"], num_batches, batch_size, 3, seed, epoch)
        np.testing.assert_array_equal(np.bincount(got_labels, minlength=3),
                                      np.bincount(cols["label"][chosen], minlength=3))
        np.testing.assert_array_equal(np.sort(got_index), np.sort(cols["index"][chosen]))
        np.testing.assert_array_equal(got_labels, converted["labels"][got_index])
    # Two epochs differ, and the same seed gives the same batches again.
    assert set(np.concatenate([b[2] for b in batches[:num_batches]])) != \
        set(np.concatenate([b[2] for b in batches[num_batches:]]))
    again = _epochs(converted["out"], seed, num_batches, batch_size, 2)
    for a, b in zip(batches, again):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)


def test_plain_stream_is_endless_and_seeded(converted):
    def first(seed):
        ds = records.train_stream(converted["out"], "train", 16, seed, columns=("label", "index"))
        return list(ds.take(5).as_numpy_iterator())  # 80 > 38 examples: it repeats
    batches = first(0)
    idx = np.concatenate([b[2] for b in batches])
    assert set(idx) <= set(range(40)) - {5, 17} and len(set(idx)) > 30
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), converted["labels"][idx])
    np.testing.assert_array_equal(idx, np.concatenate([b[2] for b in first(0)]))
    assert not np.array_equal(idx, np.concatenate([b[2] for b in first(1)]))
    with pytest.raises(ValueError, match="no column 'noisy'"):
        records.train_stream(converted["out"], "train", 4, 0, columns=("noisy",))


def _clothing1m_tree(root):
    """The five Clothing1M annotation files and 30 JPEGs of classes 0..2 (one corrupt)."""
    ann = os.path.join(root, "annotations")
    os.makedirs(ann)
    rng = np.random.default_rng(1)
    keys = [f"images/{i % 3}/{i}.jpg" for i in range(30)]
    for k in keys:
        write_jpeg(os.path.join(root, k), rng)
    with open(os.path.join(root, keys[2]), "wb") as fh:
        fh.write(b"\xff\xd8\xff\xe0broken")
    files = {"noisy_label_kv.txt": [f"{k} {i % 3}" for i, k in enumerate(keys[:20])],
             "clean_label_kv.txt": [f"{k} {(i + 1) % 3}" for i, k in enumerate(keys[10:], 10)],
             "noisy_train_key_list.txt": keys[:20],
             "clean_val_key_list.txt": keys[20:25],
             "clean_test_key_list.txt": keys[25:]}
    for name, lines in files.items():
        with open(os.path.join(ann, name), "w") as fh:
            fh.write("\n".join(lines) + "\n")
    return keys


def _convert(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    return subprocess.run([sys.executable, "-m", "famus_tf.data.convert", *args], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=120)


def test_cli_converts_clothing1m_and_rejects_bad_flags(tmp_path):
    root, out = str(tmp_path / "c1m"), str(tmp_path / "records")
    keys = _clothing1m_tree(root)
    r = _convert("--dataset=clothing1m", f"--data_dir={root}", f"--output_dir={out}",
                 "--num_shards=2", "--meta_per_class=1")
    assert r.returncode == 0, r.stderr
    metas = {s: records.read_metadata(out, s) for s in ("train", "meta", "test")}
    # Meta: 1 per class of training images 10..19 (clean labels); train: the other 17.
    assert (metas["meta"]["count"], metas["test"]["count"]) == (3, 5)
    assert metas["train"]["count"] == 16 and metas["train"]["num_paths"] == 17
    assert [f["path"] for f in metas["train"]["failed"]] == [os.path.join(root, keys[2])]
    assert metas["train"]["size"] == 256 and metas["train"]["columns"] == ["label"]
    assert os.path.join(root, keys[2]) in r.stdout
    ds, _ = records.read_records(out, "test")
    np.testing.assert_array_equal([int(x["label"]) for x in ds], [(i + 1) % 3 for i in range(25, 30)])
    for bad, flag in ((f"--data_dir={tmp_path / 'absent'}", "--data_dir"),
                      ("--data_dir=", "--data_dir")):
        r = _convert("--dataset=clothing1m", bad, f"--output_dir={out}")
        assert r.returncode == 2 and flag in r.stderr, r.stderr
    r = _convert("--dataset=cifar10", f"--data_dir={root}", f"--output_dir={out}")
    assert r.returncode == 2 and "--dataset" in r.stderr


def test_balanced_iterator_checkpoint_restores_the_stream(converted, tmp_path):
    ds = records.train_stream(converted["out"], "train", 5, 3, columns=("index",),
                              balanced=(4, 3), shuffle_buffer=8)
    it = iter(ds)
    for _ in range(3):
        next(it)
    ckpt = tf.train.Checkpoint(iterator=it)
    path = ckpt.save(str(tmp_path / "ckpt"))
    expected = [next(it)[1].numpy() for _ in range(3)]  # crosses into epoch 1
    ckpt.restore(path)
    np.testing.assert_array_equal(expected, [next(it)[1].numpy() for _ in range(3)])


@pytest.mark.parametrize("source", ["arrays", "records"])
def test_sharded_and_skipped_streams_partition_the_single_stream(converted, source):
    """Two input pipelines' shards, taken alternately, are the one-pipeline stream batch
    for batch; starting after k batches equals dropping the first k (how distributed runs
    split and resume their input)."""
    from famus_tf.data import pipeline

    def stream(shard=(1, 0), skip=0):
        if source == "records":
            ds = records.train_stream(converted["out"], "train", 4, 5, columns=("index",),
                                      balanced=(3, 3), shard=shard, skip_batches=skip)
        else:  # the example's position as its "label"
            n = len(converted["labels"])
            ds = pipeline.train_stream((converted["labels"], np.arange(n)), 4, 5, shard=shard,
                                       skip_batches=skip)
        return [b[1].numpy().tolist() for b in ds.take(6)]  # example indices, batch by batch

    whole = stream()
    halves = [stream((2, 0)), stream((2, 1))]
    assert [b for pair in zip(*halves) for b in pair] == whole + stream(skip=6)[:6]
    assert stream(skip=2)[:4] == whole[2:]
