"""Label-noise models, deterministic given a seed (numpy only).

  symmetric            FaMUS / DivideMix "sym": exactly round(r*N) random examples get a
                       label drawn uniformly from ALL classes (the true one included), so
                       the realised flip rate is about r*(C-1)/C.
  symmetric_exclusive  MLC "flip_random_noise": per class exactly round(r*n_c) labels move
                       to a uniformly drawn OTHER class.
  asymmetric           DivideMix CIFAR-10 map (truck->automobile, bird->airplane,
                       deer->horse, cat<->dog) applied to exactly round(r*N) random examples.
  pairflip             MW-Net "flip": 1-r on the diagonal, r on one random other class.
  twoflip              MW-Net "flip2": r/2 on each of two random other classes.
  transition           a user matrix T; each label is resampled from its row.
  file                 noisy labels read from a file (e.g. CIFAR-10N), see load_noise_file.
"""
import os
import zipfile

import numpy as np

from famus_tf.config import NoiseConfig  # noqa: F401  (the config corrupt() takes)
from famus_tf.data import lists

NOISE_TYPES = ("none", "symmetric", "symmetric_exclusive", "asymmetric", "pairflip", "twoflip",
               "transition", "file")
CIFAR10_ASYM = {9: 1, 2: 0, 4: 7, 3: 5, 5: 3}


def parse_transition(text):
    """The matrix of --noise_transition ('0.8,0.2;0.1,0.9': rows ';', entries ','), or None."""
    if text is None:
        return None
    try:
        rows = tuple(tuple(float(x) for x in row.split(",")) for row in text.split(";"))
    except ValueError:
        raise ValueError(f"--noise_transition: cannot parse {text!r} (rows ';', entries ',')")
    ragged = [k for k, row in enumerate(rows) if len(row) != len(rows[0])]
    if ragged:
        raise ValueError(f"--noise_transition: row {ragged[0] + 1} has {len(rows[ragged[0]])} "
                         f"entries, row 1 has {len(rows[0])} (rows ';', entries ',')")
    return rows


def check_transition(matrix, num_classes):
    t = np.asarray(matrix, dtype=np.float64)
    if t.shape != (num_classes, num_classes):
        raise ValueError(f"--noise_transition: must be {num_classes}x{num_classes}, got shape {t.shape}")
    if (t < 0).any():
        raise ValueError("--noise_transition: negative entries")
    bad = np.flatnonzero(np.abs(t.sum(1) - 1.0) > 1e-6)
    if bad.size:
        raise ValueError(f"--noise_transition: rows must sum to 1; row {bad[0]} sums to {t[bad[0]].sum()}")
    return t


def _resample(labels, t, rng):
    cum = np.cumsum(t, axis=1)
    u = rng.random(len(labels))
    out = (u[:, None] > cum[labels]).sum(1)
    return np.minimum(out, t.shape[0] - 1).astype(np.int64)


def _flip_matrix(num_classes, rate, others, rng):
    t = np.eye(num_classes) * (1.0 - rate)
    for c in range(num_classes):
        choices = rng.choice([k for k in range(num_classes) if k != c], size=others, replace=False)
        t[c, choices] += rate / others
    return t


def corrupt(labels, num_classes, config):
    """Noisy copy of `labels` (int64) under `config`."""
    labels = np.asarray(labels, dtype=np.int64)
    rng = np.random.default_rng(config.seed)
    kind, r, n = config.noise_type, config.rate, len(labels)
    if kind not in NOISE_TYPES:
        raise ValueError(f"unknown noise type {kind!r}; known: {', '.join(NOISE_TYPES)}")
    if not 0.0 <= r <= 1.0:
        raise ValueError(f"noise rate must be in [0, 1], got {r}")
    noisy = labels.copy()
    if kind == "none" or (r == 0 and kind not in ("transition", "file")):
        return noisy
    if kind == "symmetric":
        idx = rng.permutation(n)[:int(round(r * n))]
        noisy[idx] = rng.integers(0, num_classes, len(idx))
    elif kind == "symmetric_exclusive":
        for c in range(num_classes):
            members = np.flatnonzero(labels == c)
            idx = rng.permutation(members)[:int(round(r * len(members)))]
            shift = rng.integers(1, num_classes, len(idx))
            noisy[idx] = (c + shift) % num_classes
    elif kind == "asymmetric":
        if num_classes != 10:
            raise ValueError("asymmetric noise is the CIFAR-10 class map; use noise_type=transition "
                             f"for {num_classes} classes")
        idx = rng.permutation(n)[:int(round(r * n))]
        noisy[idx] = [CIFAR10_ASYM.get(int(y), int(y)) for y in labels[idx]]
    elif kind in ("pairflip", "twoflip"):
        t = _flip_matrix(num_classes, r, 1 if kind == "pairflip" else 2, rng)
        noisy = _resample(labels, t, rng)
    elif kind == "transition":
        if config.transition is None:
            raise ValueError("noise_type=transition needs a transition matrix")
        noisy = _resample(labels, check_transition(config.transition, num_classes), rng)
    elif kind == "file":
        noisy, _ = load_noise_file(config.path, num_classes)
        if len(noisy) != n:
            raise ValueError(f"{config.path}: {len(noisy)} labels for {n} training examples")
    return noisy


def transition_matrix(clean, noisy, num_classes):
    """Row-normalised empirical P(noisy | clean); absent classes get an identity row."""
    t = np.zeros((num_classes, num_classes))
    np.add.at(t, (np.asarray(clean), np.asarray(noisy)), 1.0)
    rows = t.sum(1, keepdims=True)
    t = np.where(rows > 0, t / np.maximum(rows, 1), np.eye(num_classes))
    return t


def realised_rate(clean, noisy):
    return float(np.mean(np.asarray(clean) != np.asarray(noisy)))


def save_noise_file(path, noisy, clean=None, config=None):
    """Writes noisy labels: .npz (with the true labels and config if given) or text."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if path.endswith(".npz"):
        extra = {} if clean is None else {"clean": np.asarray(clean, np.int64)}
        if config is not None:
            extra["config"] = np.array(repr(config))
        np.savez(path, noisy=np.asarray(noisy, np.int64), **extra)
    else:
        with open(path, "w") as fh:
            fh.write("# noisy labels, one per line\n")
            fh.writelines(f"{int(v)}\n" for v in noisy)


NPZ_KEYS = "'noisy' (int labels [N], required) and 'clean' (optional)"


def _load_npz(path):
    """(noisy, clean or None) of a .npz noise file; ValueError naming the file."""
    try:
        with np.load(path, allow_pickle=False) as z:
            if "noisy" not in z.files:
                raise ValueError(f"{path}: no array 'noisy'; a noise file .npz holds {NPZ_KEYS}, "
                                 f"this one has {sorted(z.files)}")
            arrays = [z[k] if k in z.files else None for k in ("noisy", "clean")]
    except ValueError as e:
        raise ValueError(str(e) if str(e).startswith(path) else f"{path}: {e}") from None
    except (OSError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"{path}: not a readable .npz file ({e})") from None
    return tuple(None if a is None else _labels(path, f"array {key!r}", a)
                 for key, a in zip(("noisy", "clean"), arrays))


def _load_npy(path):
    """The labels of a .npy noise file (1-D integers; never unpickled)."""
    try:
        noisy = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise ValueError(f"{path}: not a readable .npy array of integer labels ({e})") from None
    return _labels(path, "the array", noisy)


def _labels(path, key, a):
    if a.ndim != 1 or a.dtype.kind not in "iu":
        raise ValueError(f"{path}: {key} must be 1-D integer labels, got {a.dtype} {a.shape}")
    return a.astype(np.int64)


def _load_text(path):
    """(labels, their line numbers) of a text noise file ('#' comments, blank lines skipped)."""
    noisy, lines = [], []
    for lineno, line in lists.text_lines(path, "one integer label per line (or a .npz/.npy file)"):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        try:
            noisy.append(int(text))
        except ValueError:
            raise ValueError(f"{path}:{lineno}: not an integer label: {text!r}")
        lines.append(lineno)
    return np.asarray(noisy, np.int64), lines


def load_noise_file(path, num_classes=None):
    """(noisy, clean or None) from a .npz, a .npy or a text file of one integer label per line."""
    lines, clean = None, None
    if path.endswith(".npz"):
        noisy, clean = _load_npz(path)
    elif path.endswith(".npy"):
        noisy = _load_npy(path)
    else:
        noisy, lines = _load_text(path)
    if num_classes is not None:
        bad = np.flatnonzero((noisy < 0) | (noisy >= num_classes))
        if bad.size:
            where = f"line {lines[bad[0]]}" if lines else f"entry {bad[0]}"
            raise ValueError(f"{path}:{where}: label {noisy[bad[0]]} outside [0, {num_classes})")
    return noisy, clean
