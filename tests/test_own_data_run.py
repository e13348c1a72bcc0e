"""End to end on your own data: scikit-learn's digits written as PNG class folders (40%
of train/ in a wrong folder, 10 per class in trusted/), MW-Net + FaMUS through the
driver, the SavedModel answering with class names, and suspects.csv putting truly
mislabelled images first."""
import json
import os

import numpy as np
from absl.testing import absltest
from PIL import Image
from sklearn.datasets import load_digits

from famus_tf.config import NoiseConfig
from famus_tf.data import noise as noise_lib
from famus_tf.data import splits
from famus_tf.train import export, summaries, suspects
from tests.fixtures import run_main

NAMES = tuple(f"digit {k}" for k in range(10))  # folder names with spaces
SIZE = 16


def write_digits_folder(root, rate=0.4, trusted_per_class=10, test_fraction=0.2, seed=0):
    """DATA_DIR of the digits at SIZE x SIZE (PNG, RGB): train/ with `rate` of the images
    in another class's folder, trusted/ (clean), test/ (clean). Returns (train file paths,
    their true labels, their given labels)."""
    d = load_digits()
    images = np.round(d.images * 255.0 / 16.0).astype(np.uint8)
    labels = d.target.astype(np.int64)
    rest, test = splits.stratified_split(labels, test_fraction, seed)
    trusted_pos, train_pos = splits.take_per_class(labels[rest], trusted_per_class, seed=seed)
    trusted, train = rest[trusted_pos], rest[train_pos]
    given = noise_lib.corrupt(labels[train], 10, NoiseConfig("symmetric_exclusive", rate, seed))
    out = []
    for split, idx, ys in (("train", train, given), ("trusted", trusted, labels[trusted]),
                           ("test", test, labels[test])):
        for i, y in zip(idx, ys):
            path = os.path.join(root, split, NAMES[y], f"{i}.png")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            Image.fromarray(images[i]).convert("RGB").resize((SIZE, SIZE), Image.NEAREST).save(path)
            if split == "train":
                out.append(path)
    return out, labels[train], given


class OwnDataRunTest(absltest.TestCase):

    def test_mwnet_famus_trains_on_a_folder_and_serves_class_names(self):
        root = self.create_tempdir().full_path
        paths, true, given = write_digits_folder(root)
        self.assertAlmostEqual(float(np.mean(true != given)), 0.4, places=2)
        model_dir = os.path.join(self.create_tempdir().full_path, "run")
        out = run_main("--flagfile=launch/folder.cfg", f"--data_dir={root}",
                       f"--model_dir={model_dir}", f"--image_size={SIZE}", "--model=small_cnn",
                       "--epochs=3", "--steps_per_call=10", "--lr=0.1", "--meta_lr=0.1",
                       "--augment=none", "--profile_split=false",  # (flips change digits)
                       "--candidates=all")  # the small CNN's last stage is 3 tensors, K is 4
        self.assertEqual(out.returncode, 0, out.stderr[-3000:])
        config = json.load(open(os.path.join(model_dir, "config.json")))
        self.assertEqual((config["MetaConfig"]["method"], config["MetaConfig"]["famus"]),
                         ("mwnet", True))
        with open(os.path.join(model_dir, "class_names.txt")) as fh:
            self.assertEqual(fh.read().splitlines(), list(NAMES))
        top1 = json.load(open(os.path.join(model_dir, "results.json")))["tests"]["test"]["last_top1"]
        self.assertGreater(top1, 0.5)  # 60 steps on 40% noise (measured 0.79; chance 0.1)
        export_dir = os.path.join(model_dir, "export")
        self.assertEqual(export.load_class_names(export_dir), list(NAMES))
        files = [os.path.join(root, "test", n, f) for n in NAMES
                 for f in sorted(os.listdir(os.path.join(root, "test", n)))[:3]]
        images = np.stack([np.asarray(Image.open(f)) for f in files])
        served = export.load_serving(export_dir)(images)
        names = [n.decode() for n in served["predicted_name"].numpy()]
        self.assertEqual(names, [NAMES[k] for k in served["probabilities"].numpy().argmax(-1)])
        self.assertEqual([n.decode() for n in served["class_names"].numpy()], list(NAMES))

        # suspects.csv: every training example once, most suspect first; the top 10% are
        # mostly truly mislabelled (the fixture knows which).
        rows = suspects.read_suspects(os.path.join(model_dir, "suspects.csv"))
        wrong = dict(zip(paths, true != given))
        self.assertEqual(sorted(r["path"] for r in rows), sorted(paths))
        scores = [float(r["score"]) for r in rows]
        self.assertEqual(scores, sorted(scores, reverse=True))
        for r in rows[:20]:
            self.assertEqual(r["given_name"], NAMES[given[paths.index(r["path"])]])
        for r in rows:  # 3 epochs of MW-Net: every example has its stored meta-learned weight
            w = float(r["meta_weight"])
            self.assertGreaterEqual(w, 0.0)
            self.assertAlmostEqual(float(r["score"]), 1 - float(r["p_given"]) * min(w, 1.0),
                                   places=5)
        precision = {f: np.mean([wrong[r["path"]] for r in rows[:int(f * len(rows))]])
                     for f in (0.05, 0.1, 0.2)}
        print("suspects precision at 5/10/20%:", precision)
        self.assertGreaterEqual(precision[0.1], 0.8)
        tags = summaries.read_tags(os.path.join(model_dir, "tensorboard"))
        self.assertLessEqual({"suspects/top", "suspects/top_labels"}, tags)


if __name__ == "__main__":
    absltest.main()
