"""Scanning a JPEG tree with a corrupt and a missing file, and decoding the good ones."""
import os


import numpy as np
from absl.testing import absltest
from PIL import Image

from famus_tf.data import images


def jpeg_tree(root, n=6):
    paths = []
    rng = np.random.default_rng(0)
    for i in range(n):
        d = os.path.join(root, f"class{i % 2}")
        os.makedirs(d, exist_ok=True)
        p = os.path.join(d, f"{i}.jpg")
        Image.fromarray(rng.integers(0, 256, (20 + i, 30, 3)).astype(np.uint8)).save(p)
        paths.append(p)
    corrupt = os.path.join(root, "class0", "corrupt.jpg")
    with open(corrupt, "wb") as fh:
        fh.write(b"\xff\xd8\xff\xe0 not really a jpeg" + bytes(range(200)))
    missing = os.path.join(root, "class1", "missing.jpg")
    return paths, corrupt, missing


class ImagesTest(absltest.TestCase):

    def test_scan_names_exactly_the_bad_files(self):
        root = self.create_tempdir().full_path
        good, corrupt, missing = jpeg_tree(root)
        ok, bad = images.scan(good[:3] + [corrupt] + good[3:] + [missing])
        self.assertEqual(ok.tolist(), [True] * 3 + [False] + [True] * 3 + [False])
        self.assertEqual([p for p, _ in bad], [corrupt, missing])
        self.assertTrue(bad[0][1].startswith("corrupt"))
        self.assertEqual(bad[1][1], "missing")

    def test_decoded_batches_have_the_stored_shape(self):
        root = self.create_tempdir().full_path
        good, _, _ = jpeg_tree(root)
        ds = images.file_dataset(good, 16, np.arange(len(good))).batch(3)
        batches = list(ds)
        self.assertEqual(len(batches), 2)
        x, y = batches[0]
        self.assertEqual((x.shape, x.dtype.name), ((3, 16, 16, 3), "uint8"))
        self.assertEqual(y.numpy().tolist(), [0, 1, 2])
        # Resizing a constant image keeps its value.
        flat = os.path.join(root, "flat.png")
        Image.fromarray(np.full((9, 13, 3), 77, np.uint8)).save(flat)
        out = images.decode(flat, 5).numpy()
        self.assertTrue((out == 77).all())


if __name__ == "__main__":
    absltest.main()


def test_streams_skip_name_and_count_unreadable_files(tmp_path, capfd):
    """A file that breaks during training (not an image, a corrupt JPEG, deleted after
    start-up) is skipped, counted and, where it is not an image, named; nothing stops."""
    from famus_tf.data import pipeline
    paths, corrupt, _ = jpeg_tree(str(tmp_path), n=8)
    html = os.path.join(str(tmp_path), "class1", "error_page.jpg")
    with open(html, "wb") as fh:
        fh.write(b"<html><body>404</body></html>")
    deleted = paths[5]
    os.remove(deleted)
    files = np.array(paths[:2] + [corrupt, html] + paths[2:])  # bad ones mid-stream
    labels = np.arange(len(files))
    batches = list(pipeline.eval_stream((files, labels), 4, decode_size=8))
    seen = np.concatenate([b[1].numpy() for b in batches])
    np.testing.assert_array_equal(seen, [0, 1, 4, 5, 6, 8, 9])
    assert batches[0][0].shape[1:] == (8, 8, 3)
    err = capfd.readouterr().err
    assert f"evaluation: skipped {html} (not an image file)" in err
    assert f"evaluation: skipped {corrupt} (truncated JPEG" in err  # no scan, no end marker
    assert f"evaluation: cannot read {deleted}" in err
    assert "(3 unreadable image(s) skipped so far)" in err
    it = iter(pipeline.train_stream((files, labels), 7, seed=0, decode_size=8))
    first = next(it)[1].numpy()
    assert sorted(first.tolist()) == [0, 1, 4, 5, 6, 8, 9]  # one epoch: exactly the good files
    next(it)  # the second epoch's start reveals skips at the end of the first
    import re
    err = capfd.readouterr().err
    counts = [int(c) for c in re.findall(r"\((\d+) unreadable image\(s\) skipped so far\)", err)]
    assert err.startswith("training stream: ") and counts and max(counts) >= 3, err


def test_a_truncated_jpeg_is_named_counted_and_never_reaches_libjpeg(tmp_path, capfd):
    """A truncated download (no end-of-image marker) is found without decoding: the
    stream names it once with the count and goes on; libjpeg prints nothing. Complete
    JPEGs (baseline, progressive, with bytes after the end marker) pass the check."""
    import io

    import tensorflow as tf

    from famus_tf.data import pipeline
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (24, 20, 3)).astype(np.uint8)
    encoded = {}
    for name, kw in (("base", {}), ("progressive", {"progressive": True})):
        buf = io.BytesIO()
        Image.fromarray(pixels).save(buf, format="JPEG", **kw)
        encoded[name] = buf.getvalue()
    encoded["trailing"] = encoded["base"] + b"\x00" * 40 + b"camera data"
    encoded["truncated"] = encoded["base"][:len(encoded["base"]) // 2]
    encoded["header_only"] = encoded["progressive"][:300]
    paths = {}
    for name, data in encoded.items():
        paths[name] = str(tmp_path / f"{name}.jpg")
        with open(paths[name], "wb") as fh:
            fh.write(data)
    reasons = {n: images.unreadable_reason(tf.constant(d)).numpy().decode() for n, d in encoded.items()}
    assert reasons["base"] == reasons["progressive"] == reasons["trailing"] == ""
    assert reasons["truncated"].startswith("truncated JPEG") and reasons["header_only"] == reasons["truncated"]
    files = np.array([paths["base"], paths["truncated"], paths["progressive"], paths["trailing"],
                      paths["header_only"]])
    batches = list(pipeline.eval_stream((files, np.arange(5)), 2, decode_size=8))
    assert np.concatenate([b[1].numpy() for b in batches]).tolist() == [0, 2, 3]
    err = capfd.readouterr().err
    assert err.count(paths["truncated"]) == 1 and err.count(paths["header_only"]) == 1, err
    assert f"evaluation: skipped {paths['header_only']} (truncated JPEG" in err
    assert "(2 unreadable image(s) skipped so far)" in err
    assert "JPEG library" not in err and "Premature end" not in err, err
