"""mini-WebVision lists and the ILSVRC12 val folders, in their released layout."""
import os

from absl.testing import absltest

from famus_tf.data import webvision


def write_tree(root, bad_line=""):
    info = os.path.join(root, "info")
    os.makedirs(info)
    with open(os.path.join(info, "train_filelist_google.txt"), "w") as fh:
        for c in (0, 1, 49, 50, 999):
            fh.write(f"google/q{c:04d}/00000001.jpg {c}\n")
        fh.write(bad_line)
    with open(os.path.join(info, "val_filelist.txt"), "w") as fh:
        fh.write("val000001.jpg 3\nval000002.jpg 60\n")
    with open(os.path.join(info, "synsets.txt"), "w") as fh:
        fh.writelines(f"n{c:08d} class{c}\n" for c in range(60))
    for c in (0, 2, 55):
        d = os.path.join(root, "imagenet", "val", f"n{c:08d}")
        os.makedirs(d)
        open(os.path.join(d, "ILSVRC2012_val_1.JPEG"), "w").close()


def jpeg_tree(root):
    """A tiny mini-WebVision tree of real JPEGs: 2 training images for each of the 50
    classes, 6 validation images, ILSVRC12 val images of 3 classes."""
    import numpy as np

    from tests.fixtures import write_jpeg
    info = os.path.join(root, "info")
    os.makedirs(info)
    rng = np.random.default_rng(0)
    jpeg = lambda path: write_jpeg(path, rng)  # noqa: E731
    train = [(f"google/q{c:04d}/{i}.jpg", c) for c in range(50) for i in range(2)]
    for rel, _ in train:
        jpeg(os.path.join(root, rel))
    with open(os.path.join(info, "train_filelist_google.txt"), "w") as fh:
        fh.writelines(f"{rel} {c}\n" for rel, c in train)
    with open(os.path.join(info, "val_filelist.txt"), "w") as fh:
        for i in range(6):
            jpeg(os.path.join(root, "val_images_256", f"val{i}.jpg"))
            fh.write(f"val{i}.jpg {i}\n")
    with open(os.path.join(info, "synsets.txt"), "w") as fh:
        fh.writelines(f"n{c:08d} c{c}\n" for c in range(1000))
    for c in (0, 1, 2):
        jpeg(os.path.join(root, "imagenet", "val", f"n{c:08d}", "a.JPEG"))


class WebVisionTest(absltest.TestCase):

    def test_first_50_classes(self):
        root = self.create_tempdir().full_path
        write_tree(root)
        d = webvision.load_webvision(root)
        paths, labels = d["train"]
        self.assertEqual(labels.tolist(), [0, 1, 49])
        self.assertEqual(paths[2], os.path.join(root, "google/q0049/00000001.jpg"))
        self.assertEqual(d["val"][1].tolist(), [3])
        self.assertEqual(d["val"][0][0], os.path.join(root, "val_images_256", "val000001.jpg"))
        self.assertEqual(d["imagenet_val"][1].tolist(), [0, 2])  # synset 55 is not mini

    def test_bad_lines_name_file_and_line(self):
        root = self.create_tempdir().full_path
        write_tree(root, bad_line="google/q0002/x.jpg two\n")
        with self.assertRaisesRegex(ValueError, r"train_filelist_google.txt:6: expected"):
            webvision.load_webvision(root)
        root = self.create_tempdir().full_path
        write_tree(root, bad_line="google/q0002/x.jpg 1000\n")
        with self.assertRaisesRegex(ValueError, r"train_filelist_google.txt:6: label 1000"):
            webvision.load_webvision(root)
        with self.assertRaisesRegex(FileNotFoundError, "train_filelist_google.txt"):
            webvision.load_webvision(self.create_tempdir().full_path)


class WebVisionRunTest(absltest.TestCase):
    """A tiny mini-WebVision tree of real JPEGs trains and is evaluated on both val sets."""

    def test_run_reports_webvision_and_ilsvrc12(self):
        import json

        from tests.fixtures import run_main, run_main_in_process
        root = self.create_tempdir().full_path
        jpeg_tree(root)
        model_dir = self.create_tempdir().full_path

        args = ("--flagfile=launch/webvision.cfg", f"--data_dir={root}", "--model=small_cnn",
                "--meta_set=clean", "--method=plain",  # the plain baseline; Algorithm 2: cotrain tests
                "--batch_size=20", "--epochs=1", "--eval_batch_size=8", "--export=false",
                f"--model_dir={model_dir}")
        # crops that do not fit the 299 input: refused
        code, stderr = run_main_in_process(*args, "--augment=resized_crop:64")
        self.assertEqual(code, 2, stderr[-2000:])
        self.assertIn("--augment=resized_crop:64", stderr)
        self.assertEqual(os.listdir(model_dir), [])
        out = run_main(*args, "--num_batches=3")
        self.assertEqual(out.returncode, 0, out.stderr[-3000:])
        results = json.load(open(os.path.join(model_dir, "results.json")))
        self.assertEqual(results["steps"], 3)  # class-balanced epochs of --num_batches
        self.assertTrue(0.0 <= results["tests"]["imagenet_val"]["last_top1"] <= 1.0)
        self.assertTrue(0.0 <= results["tests"]["test"]["last_top5"] <= 1.0)


if __name__ == "__main__":
    absltest.main()
