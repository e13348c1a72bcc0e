"""Your own data: image folders and lists (PNG and JPEG of any size), their errors, the
check command's report, and the class names in the run and in the SavedModel."""
import dataclasses
import os

import keras
import numpy as np
from absl import flags
from absl.testing import absltest
from PIL import Image

import flags as _famus_flags  # noqa: F401  (defines the flags main validates)
from famus_tf import main
from famus_tf.config import DataConfig, NoiseConfig
from famus_tf.data import balanced, check, datasets, own
from famus_tf.train import export

CLASSES = ("cat", "dog", "red fox")  # sorted; one name with a space


def write_image(path, rng, shape):
    """A random-pixel image file; PNG or JPEG by the extension."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(rng.integers(0, 256, shape).astype(np.uint8)).save(path)


def write_folder(root, per_class=(4, 3, 5), trusted=(2, 0, 1), test=(1, 1, 2)):
    """train/, trusted/ and test/ class folders of PNG and JPEG files of mixed sizes, in
    every class; a class with 0 trusted images gets no trusted/ folder. Returns
    {split: [(relative path, class)]}."""
    rng = np.random.default_rng(0)
    written = {}
    for split, counts in (("train", per_class), ("trusted", trusted), ("test", test)):
        written[split] = []
        for c, (name, n) in enumerate(zip(CLASSES, counts)):
            for i in range(n):
                rel = os.path.join(split, name, f"image {i}.{'png' if i % 2 else 'jpg'}")
                write_image(os.path.join(root, rel), rng, (20 + 3 * i, 30 - 2 * i, 3))
                written[split].append((rel, c))
    open(os.path.join(root, "train", "cat", "notes.txt"), "w").write("not an image")
    return written


def write_lists(root, written, labels="names", **lines):
    """--train_list etc. files for the images of `write_folder`; `lines`: extra lines."""
    out = {}
    for split, rows in written.items():
        path = os.path.join(root, f"{split}.txt")
        with open(path, "w") as fh:
            for rel, c in rows:
                label = CLASSES[c].replace(" ", "_") if labels == "names" else c
                fh.write(f"{rel} {label}\n")
            fh.write(lines.get(split, ""))
        out[f"{split}_list"] = path
    return out


class FolderTest(absltest.TestCase):

    def test_classes_splits_and_labels(self):
        root = self.create_tempdir().full_path
        written = write_folder(root)
        d = own.read_folder(root)
        self.assertEqual(d["class_names"], CLASSES)
        self.assertEqual(sorted(d["splits"]), ["test", "train", "trusted"])
        for split, rows in written.items():
            paths, labels = d["splits"][split]
            got = sorted(zip((os.path.relpath(p, root) for p in paths), labels.tolist()))
            self.assertEqual(got, sorted(rows))  # notes.txt is not an image
        data = datasets.prepare(DataConfig(dataset="folder", data_dir=root, image_size=16,
                                           num_batches=0), NoiseConfig())
        self.assertEqual((data.num_classes, data.class_names, data.image_shape),
                         (3, CLASSES, (16, 16, 3)))
        self.assertEqual((len(data.train_labels), len(data.meta_labels), len(data.test_labels)),
                         (12, 3, 4))
        np.testing.assert_array_equal(np.bincount(data.meta_labels, minlength=3), [2, 0, 1])
        self.assertEqual((data.decode_size, data.balanced_batches), (16, None))
        self.assertTrue(datasets.get("folder").has_clean_labels(DataConfig(data_dir=root)))
        cfg = DataConfig(dataset="folder", data_dir=root, image_size=16, decode_size=20,
                         num_batches=3, batch_size=3)
        data = datasets.prepare(cfg, NoiseConfig())  # class-balanced epochs of 3 batches
        self.assertEqual((data.decode_size, data.image_shape, data.balanced_batches),
                         (20, (16, 16, 3), 3))
        epoch = balanced.epoch_indices(data.train_labels, 3, 3, 3, seed=0, epoch=0)
        np.testing.assert_array_equal(np.bincount(data.train_labels[epoch]), [3, 3, 3])
        with self.assertRaisesRegex(ValueError, "--decode_size=8 is smaller than --image_size=16"):
            datasets.prepare(dataclasses.replace(cfg, decode_size=8), NoiseConfig())

    def test_check_names_bad_files_and_missing_classes(self):
        root = self.create_tempdir().full_path
        write_folder(root)
        with open(os.path.join(root, "train", "dog", "image 1.png"), "wb") as fh:
            fh.write(b"\x89PNG\r\n\x1a\nbroken")  # a corrupt PNG
        os.makedirs(os.path.join(root, "train", "zebra"))  # an empty class folder
        lines = []
        cfg = DataConfig(dataset="folder", data_dir=root)
        problems = check.check("folder", out=lines.append, data_cfg=cfg)
        text = "\n".join(lines)
        self.assertEqual(problems, 2, text)
        self.assertIn("train: 12 images; per class min 0 max 5", text)
        self.assertIn("  cat: 4, dog: 3, red fox: 5, zebra: 0", text)
        self.assertIn(f"BAD train: {os.path.join(root, 'train', 'dog', 'image 1.png')}: corrupt", text)
        self.assertIn("BAD train: 1 class(es) without images: 'zebra'", text)
        self.assertIn("NOTE trusted: 1 class(es) of train without examples here: 'dog'", text)
        with self.assertRaisesRegex(ValueError, r"^--dataset=folder: class 'zebra' has no training "
                                    r"images \(1 such class\(es\)\)"):
            datasets.prepare(cfg, NoiseConfig())
        os.rmdir(os.path.join(root, "train", "zebra"))
        for name in os.listdir(os.path.join(root, "trusted")):  # trusted/ left empty
            for f in os.listdir(os.path.join(root, "trusted", name)):
                os.remove(os.path.join(root, "trusted", name, f))
        with self.assertRaisesRegex(ValueError, r"^--dataset=folder: the trusted set "
                                    r"\(DATA_DIR/trusted/\) has no images"):
            datasets.prepare(cfg, NoiseConfig())

    def test_a_class_train_does_not_have_is_one_line_naming_it(self):
        root = self.create_tempdir().full_path
        write_folder(root)
        write_image(os.path.join(root, "test", "wolf", "a.png"), np.random.default_rng(1), (8, 8, 3))
        with self.assertRaises(ValueError) as e:
            own.read_folder(root)
        self.assertEqual(str(e.exception), f"--dataset=folder: {os.path.join(root, 'test', 'wolf')}: "
                         f"class 'wolf' is not a folder of {os.path.join(root, 'train')} "
                         "(the classes are train's)")
        self.assertNotIn("\n", str(e.exception))

    def test_without_trusted_a_meta_method_is_refused_saying_what_to_add(self):
        root = self.create_tempdir().full_path
        write_folder(root, trusted=(0, 0, 0))
        lists = write_lists(root, {"train": [("train/cat/image 0.jpg", 0)]})
        for dataset, extra, expect in (("folder", [], "add DATA_DIR/trusted/<class>/"),
                                       ("list", [f"--train_list={lists['train_list']}"],
                                        "add --trusted_list")):
            f = flags.FLAGS
            f.unparse_flags()
            try:
                f(["famus", f"--flagfile={main.QUICKSTART}", f"--dataset={dataset}",
                   f"--data_dir={root}", *extra])
                with self.assertRaises(main.FlagError) as e:
                    main.build_experiment(f)
            finally:
                f.unparse_flags()
                f.mark_as_parsed()
            self.assertIn(f"--method=mwnet needs a clean meta set and --dataset={dataset} has none: "
                          f"{expect}", str(e.exception))
            self.assertIn("--meta_set=pseudo_clean", str(e.exception))


class ListTest(absltest.TestCase):

    def setUp(self):
        super().setUp()
        self.root = self.create_tempdir().full_path
        self.written = write_folder(self.root)
        self.names = ("cat", "dog", "red_fox")

    def config(self, **kwargs):
        return DataConfig(dataset="list", data_dir=self.root, image_size=16, num_batches=0, **kwargs)

    def test_names_and_integers_give_the_same_data(self):
        by_name = own.read_lists(self.config(**write_lists(self.root, self.written)))
        self.assertEqual(by_name["class_names"], self.names)
        by_int = own.read_lists(self.config(**write_lists(self.root, self.written, labels="ints")))
        self.assertEqual(by_int["class_names"], ("0", "1", "2"))
        for split, rows in self.written.items():
            for d in (by_name, by_int):
                paths, labels = d["splits"][split]
                self.assertEqual([os.path.relpath(p, self.root) for p in paths], [r for r, _ in rows])
                self.assertEqual(labels.tolist(), [c for _, c in rows])  # paths with spaces
        names_file = os.path.join(self.root, "names.txt")
        open(names_file, "w").write("tabby cat\ndog\nred fox\n")
        named = own.read_lists(self.config(class_names=names_file,
                                           **write_lists(self.root, self.written, labels="ints")))
        self.assertEqual(named["class_names"], ("tabby cat", "dog", "red fox"))

    def test_bad_lines_are_one_line_errors_naming_file_and_line(self):
        n = len(self.written["train"]) + 1
        cases = (
            ({"train": "train/cat/x.jpg 1\n"}, "names", rf"train.txt:{n}: label '1' is a number but "
             "the train list labels by names; use one kind"),
            ({"test": "test/cat/x.jpg wolf\n"}, "names", rf"test.txt:5: label 'wolf' is not a class "
             r"\(3 from the train list: cat, dog, red_fox\)"),
            ({"trusted": "trusted/cat/x.jpg 3\n"}, "ints", r"trusted.txt:4: label '3' is not a class "
             r"\(3 from the largest train label \+ 1"),
            ({"train": "justonefield\n"}, "ints", rf"train.txt:{n}: expected '<image path> <label>'"),
        )
        for extra, labels, pattern in cases:
            cfg = self.config(**write_lists(self.root, self.written, labels=labels, **extra))
            with self.assertRaisesRegex(ValueError, pattern) as e:
                own.read_lists(cfg)
            self.assertNotIn("\n", str(e.exception))
        lines = []  # check reports a loader error as one ERROR line, exit status 1
        self.assertEqual(check.check("list", out=lines.append, data_cfg=cfg), 1)
        self.assertRegex(lines[0], r"^ERROR .*train.txt:\d+: expected")

    def test_check_names_a_missing_file(self):
        lists = write_lists(self.root, self.written, test="test/dog/gone.png dog\n")
        lines = []
        problems = check.check("list", out=lines.append, data_cfg=self.config(**lists))
        text = "\n".join(lines)
        self.assertEqual(problems, 1, text)
        self.assertIn(f"BAD test: {os.path.join(self.root, 'test/dog/gone.png')}: missing", text)
        self.assertIn("test: 5 images", text)
        data = datasets.prepare(self.config(**lists), NoiseConfig())  # missing files are dropped
        self.assertEqual(len(data.test_labels), 4)
        self.assertEqual(data.class_names, self.names)


class ExportTest(absltest.TestCase):

    def test_savedmodel_serves_class_names(self):
        model = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Flatten(),
                                  keras.layers.Dense(3)])
        path = os.path.join(self.create_tempdir().full_path, "export")
        export.export_classifier(model, path, (0.5,) * 3, (0.25,) * 3, (4, 4, 3),
                                 class_names=CLASSES)
        images = np.random.default_rng(0).integers(0, 256, (6, 4, 4, 3)).astype(np.uint8)
        out = export.load_serving(path)(images)
        expect = model(((images / 255.0 - 0.5) / 0.25).astype(np.float32)).numpy().argmax(-1)
        self.assertEqual([n.decode() for n in out["predicted_name"].numpy()],
                         [CLASSES[k] for k in expect])
        self.assertEqual([n.decode() for n in out["class_names"].numpy()], list(CLASSES))
        self.assertEqual(export.load_class_names(path), list(CLASSES))
        with self.assertRaisesRegex(ValueError, "2 class names for 3 outputs"):
            export.export_classifier(model, path, (0.5,), (0.25,), (4, 4, 3), class_names=("a", "b"))


if __name__ == "__main__":
    absltest.main()
