"""CIFAR-10/100, CIFAR-10N/100N and long-tailed CIFAR, read from their released forms.

Sources (`source`):
  python  the extracted python-version archives: `cifar-10-batches-py/data_batch_1..5`,
          `test_batch` (pickled dicts, b'data' [N, 3072] channel-major rows, b'labels'), or
          `cifar-100-python/train`, `test` (b'fine_labels'); looked for in data_dir and in
          data_dir/<archive folder>.
  tfds    a TFDS data_dir holding the prepared `cifar10` / `cifar100` (or `cifar10_n`,
          `cifar100_n`) builders; loaded with download=False, never fetched.
  auto    python if found, else tfds.
CIFAR-N human labels come from the TFDS `cifar10_n`/`cifar100_n` builders, or from a
label file beside the data: `<label_set>.txt` (one label per line) or `cifar10n.npz` /
`cifar100n.npz` with one array per label set (convert the released `CIFAR-10_human.pt`
with torch: `np.savez('cifar10n.npz', **{k: v for k, v in torch.load(p).items()})`).
"""
import os

import numpy as np
import tensorflow_datasets as tfds

from famus_tf.data import prepared, safe_pickle
from famus_tf.data.noise import load_noise_file

INFO = {  # classes, mean, std (0..1 scale, per channel, of the training set)
    "cifar10": (10, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": (100, (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}
_PY = {"cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"],
                   b"labels"),
       "cifar100": ("cifar-100-python", ["train"], ["test"], b"fine_labels")}
LABEL_SETS = {"cifar10": {"aggregate": "aggre_label", "random1": "random_label1",
                          "random2": "random_label2", "random3": "random_label3",
                          "worst": "worse_label"},
              "cifar100": {"noisy_fine": "noise_label"}}


def _python_dir(name, data_dir):
    folder, train, _, _ = _PY[name]
    for d in (os.path.join(data_dir, folder), data_dir):
        if all(os.path.isfile(os.path.join(d, f)) for f in train):
            return d
    return None


def _read_batches(name, directory, files):
    key = _PY[name][3]
    images, labels = [], []
    for f in files:
        path = os.path.join(directory, f)
        d = safe_pickle.load(path)
        missing = [k for k in (b"data", key) if not isinstance(d, dict) or k not in d]
        if missing:
            raise ValueError(f"{path}: not a CIFAR python batch (no {missing[0]!r} entry)")
        try:
            x = np.asarray(d[b"data"], np.uint8)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{path}: b'data' is not an image array ({e})") from None
        if x.ndim != 2 or x.shape[1] != 3072:
            raise ValueError(f"{path}: b'data' has shape {x.shape}, expected [N, 3072]")
        y = np.asarray(d[key], np.int64)
        bad = np.flatnonzero((y < 0) | (y >= INFO[name][0]))
        if bad.size:
            raise ValueError(f"{path}: label {y[bad[0]]} at index {bad[0]} outside [0, {INFO[name][0]})")
        images.append(x.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        labels.append(y)
    return np.concatenate(images), np.concatenate(labels)


def _tfds(builder, data_dir, split):
    """A split of a prepared TFDS builder as numpy arrays (read in chunks of 1000)."""
    ds = tfds.load(builder, split=split, data_dir=data_dir, download=False, batch_size=1000)
    parts = list(tfds.as_numpy(ds))
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def load_cifar(name, data_dir, source="auto"):
    """{'train': (uint8 [N,32,32,3], int64 [N]), 'test': ..., 'num_classes', 'mean', 'std'}."""
    if name not in INFO:
        raise ValueError(f"unknown CIFAR {name!r}; use cifar10 or cifar100")
    num_classes, mean, std = INFO[name]
    out = {"num_classes": num_classes, "mean": mean, "std": std}
    directory = _python_dir(name, data_dir) if source in ("auto", "python") else None
    if directory:
        _, train, test, _ = _PY[name]
        out["train"] = _read_batches(name, directory, train)
        out["test"] = _read_batches(name, directory, test)
        return out
    if source == "python" or not os.path.isdir(os.path.join(data_dir, name)):
        raise FileNotFoundError(
            f"{name}: no python batches in {os.path.join(data_dir, _PY[name][0])} or {data_dir}"
            + ("" if source == "python" else f", and no TFDS '{name}' in {data_dir}"))
    for split in ("train", "test"):
        d = _tfds(name, data_dir, split)
        out[split] = (d["image"].astype(np.uint8), d["label"].astype(np.int64))
    return out


def load_cifar_n(name, data_dir, label_set, source="auto"):
    """CIFAR-N: {'train': (images, human noisy labels, true labels), 'test': ...}."""
    sets = LABEL_SETS[name]
    field = sets.get(label_set, label_set)
    if field not in sets.values():
        raise ValueError(f"{name}N label set {label_set!r}; choose from {', '.join(sets)}")
    num_classes, mean, std = INFO[name]
    out = {"num_classes": num_classes, "mean": mean, "std": std}
    builder = name + "_n"
    if source != "python" and os.path.isdir(os.path.join(data_dir, builder)):
        train = _tfds(builder, data_dir, "train")
        clean = train["label"].astype(np.int64)
        out["train"] = (train["image"].astype(np.uint8), train[field].astype(np.int64), clean)
        test = _tfds(builder, data_dir, "test")
        out["test"] = (test["image"].astype(np.uint8), test["label"].astype(np.int64))
        return out
    base = load_cifar(name, data_dir, source)
    images, clean = base["train"]
    noisy = _label_file(name, data_dir, field, label_set, len(clean), num_classes)
    out["train"], out["test"] = (images, noisy, clean), base["test"]
    return out


def _label_file(name, data_dir, field, label_set, n, num_classes):
    npz = os.path.join(data_dir, f"{name}n.npz")
    txt = os.path.join(data_dir, f"{label_set}.txt")
    if os.path.isfile(npz):
        with np.load(npz, allow_pickle=False) as z:
            if field not in z:
                raise ValueError(f"{npz}: no array {field!r}; it has {sorted(z.files)}")
            noisy = z[field].astype(np.int64)
    elif os.path.isfile(txt):
        noisy, _ = load_noise_file(txt, num_classes)
    else:
        raise FileNotFoundError(f"{name}N labels: no TFDS '{name}_n', {npz} or {txt} in {data_dir}")
    if len(noisy) != n:
        raise ValueError(f"{name}N labels: {len(noisy)} labels for {n} training images")
    return noisy


def long_tailed(images, labels, num_classes, imbalance, seed):
    """Indices keeping floor(n_max * imbalance**(-c/(C-1))) random examples of class c."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    n_max = np.bincount(labels, minlength=num_classes).max()
    keep = []
    for c in range(num_classes):
        n_c = int(n_max * imbalance ** (-c / (num_classes - 1)))
        members = np.flatnonzero(labels == c)
        keep.append(rng.permutation(members)[:n_c])
    return np.sort(np.concatenate(keep)).astype(np.int64)


# The data sets of this module (entries of data/datasets.py), each `name` = cifar10 | cifar100.

def check_splits(name, data_cfg):
    """{split: (images, labels)} of the released files, and the number of classes."""
    d = load_cifar(name, data_cfg.data_dir, data_cfg.source)
    return {"train": d["train"], "test": d["test"]}, d["num_classes"]


def check_splits_n(name, data_cfg):
    """CIFAR-N: the training split with the human noisy labels of --label_set."""
    d = load_cifar_n(name, data_cfg.data_dir, data_cfg.label_set, data_cfg.source)
    images, noisy, _ = d["train"]
    return {"train": (images, noisy), "test": d["test"]}, d["num_classes"]


def prepare(name, data_cfg, noise_cfg, long_tail=False):
    """CIFAR with synthetic noise; `long_tail`: the exponential profile of
    `data_cfg.imbalance` drawn from the training set left after the meta set."""
    d = load_cifar(name, data_cfg.data_dir, data_cfg.source)
    images, labels = d["train"]
    keep = None
    if long_tail:
        keep = lambda y: long_tailed(None, y, d["num_classes"], data_cfg.imbalance,  # noqa: E731
                                     noise_cfg.seed)
    return prepared.with_meta_split(data_cfg.dataset, d["num_classes"], images.shape[1:], d["mean"],
                                    d["std"], images, labels, d["test"], data_cfg, noise_cfg, keep=keep)


def prepare_n(name, data_cfg, noise_cfg):
    """CIFAR-N: the base CIFAR images with the human noisy labels of `data_cfg.label_set`."""
    d = load_cifar_n(name, data_cfg.data_dir, data_cfg.label_set, data_cfg.source)
    images, noisy, clean = d["train"]
    return prepared.with_meta_split(data_cfg.dataset, d["num_classes"], images.shape[1:], d["mean"],
                                    d["std"], images, clean, d["test"], data_cfg, noise_cfg,
                                    noisy=noisy)
