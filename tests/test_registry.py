"""The data-set registry: `--dataset`, `check` and `convert` cover every entry, on tiny
fixtures of each released format."""
import os
import types

import numpy as np
from absl import flags
from absl.testing import absltest, parameterized

import flags as _famus_flags  # noqa: F401  (defines --dataset)
from famus_tf.config import DataConfig, NoiseConfig
from famus_tf.data import check, convert, datasets, records
from tests.fixtures import write_jpeg
from tests.test_cifar import write_batches
from tests.test_clothing1m import write_tree as clothing1m_tree
from tests.test_cnwl import tree as cnwl_tree
from tests.test_own_data import write_folder, write_lists
from tests.test_webvision import write_tree as webvision_tree


def _jpegs(root, paths):
    rng = np.random.default_rng(0)
    for p in paths:
        write_jpeg(os.path.join(root, p), rng, (40, 36, 3))


def _cifar_n(root, base, field):
    write_batches(root, base)
    np.savez(os.path.join(root, f"{base}n.npz"), **{field: np.arange(100) % 7})


def _webvision(root):
    webvision_tree(root)
    _jpegs(root, [f"google/q{c:04d}/00000001.jpg" for c in (0, 1, 49)]
           + ["val_images_256/val000001.jpg"]
           + [f"imagenet/val/n{c:08d}/ILSVRC2012_val_1.JPEG" for c in (0, 2)])


def _cnwl(root, color):
    cnwl_tree(root)
    if color == "blue":
        os.rename(os.path.join(root, "split", "red_noise_nl_0.4"),
                  os.path.join(root, "split", "blue_noise_nl_0.4"))


# name -> (writes the fixture into a directory, extra DataConfig fields)
FIXTURES = {
    "digits": (None, {}),
    "cifar10": (lambda r: write_batches(r, "cifar10"), {}),
    "cifar100": (lambda r: write_batches(r, "cifar100"), {}),
    "cifar10n": (lambda r: _cifar_n(r, "cifar10", "aggre_label"), {}),
    "cifar100n": (lambda r: _cifar_n(r, "cifar100", "noise_label"), {"label_set": "noisy_fine"}),
    "cifar10_lt": (lambda r: write_batches(r, "cifar10"), {}),
    "cifar100_lt": (lambda r: write_batches(r, "cifar100"), {}),
    "clothing1m": (lambda r: _jpegs(r, clothing1m_tree(r)), {}),
    "webvision": (_webvision, {}),
    "cnwl_red": (lambda r: _cnwl(r, "red"), {}),
    "cnwl_blue": (lambda r: _cnwl(r, "blue"), {}),
    "folder": (write_folder, {"image_size": 16, "num_batches": 0}),
    "list": (None, {"image_size": 16, "num_batches": 2, "batch_size": 2}),
}


class RegistryTest(parameterized.TestCase):

    def data_config(self, name):
        write, extra = FIXTURES[name]
        root = None
        if write is not None:
            root = self.create_tempdir().full_path
            write(root)
        if name == "list":  # the folder fixture's images, listed
            root = self.create_tempdir().full_path
            extra = dict(extra, **write_lists(root, write_folder(root)))
        return DataConfig(dataset=name, data_dir=root, meta_per_class=1, **extra)

    def test_every_entry_has_a_fixture_and_is_a_flag_value(self):
        self.assertEqual(set(FIXTURES), set(datasets.DATASETS))
        self.assertEqual(flags.FLAGS["dataset"].parser.enum_values, list(datasets.DATASETS))
        self.assertEqual([n for n in datasets.DATASETS if not datasets.get(n).needs_data_dir],
                         ["digits"])

    @parameterized.parameters(*datasets.DATASETS)
    def test_check_reports_every_split(self, name):
        cfg = self.data_config(name)
        lines = []
        problems = check.check(name, cfg.data_dir, out=lines.append, data_cfg=cfg)
        text = "\n".join(lines)
        self.assertEqual(problems, 0, text)
        parts, _ = check.splits_of(cfg)
        self.assertIn("train", parts)
        for split, (_, labels) in parts.items():
            self.assertGreater(len(labels), 0, split)
            self.assertIn(f"{split}: {len(labels)} images", text)
        self.assertEqual(lines[-1], "OK")

    @parameterized.parameters(*datasets.DATASETS)
    def test_convert_covers_every_entry(self, name):
        entry = datasets.get(name)
        cfg = self.data_config(name)
        out = self.create_tempdir().full_path
        flags_like = types.SimpleNamespace(dataset=name, data_dir=cfg.data_dir, output_dir=out,
                                           num_shards=0, quality=95)
        problem = convert.validate(flags_like)
        if not entry.convertible:  # arrays in memory: nothing to decode, refused by name
            self.assertIn(f"--dataset={name} is not an image-file data set", problem)
            return
        self.assertIsNone(problem)
        noise = NoiseConfig(noise_type="none")
        written = convert.convert(cfg, noise, out, log=lambda s: None)
        prepared = datasets.prepare(cfg, noise)
        self.assertEqual(written["train"]["count"], len(prepared.train_labels))
        self.assertEqual(written["test"]["count"], len(prepared.test_labels))
        self.assertEqual(written["train"]["size"], entry.stored_size(cfg))
        self.assertEqual(records.check_labels(out, "train", prepared.train_labels),
                         len(prepared.train_labels))


if __name__ == "__main__":
    absltest.main()
