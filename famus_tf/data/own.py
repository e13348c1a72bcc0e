"""Your own labelled images: an image folder (`--dataset=folder`) or image lists
(`--dataset=list`), with an optional trusted (hand-checked) subset.

folder, under DATA_DIR:
  train/<class>/*      the labels as given (possibly noisy). The classes are the folder
                       names of train/, sorted (names may contain spaces).
  trusted/<class>/*    optional: hand-checked images, the clean meta set of the MW-Net
                       protocol (all of them; --meta_per_class does not apply).
  test/<class>/* or val/<class>/*   optional: the test set (test/ when both exist).
  Image files are *.jpg, *.jpeg, *.png, *.bmp, *.gif (any case, any size); hidden files
  and other names are ignored (their count is logged). A class folder in trusted/, val/ or
  test/ that train/ does not have is an error naming it; a train class without trusted
  images is accepted (`python -m famus_tf.data.check` lists it).
list: --train_list, optional --trusted_list and --test_list, `<image path> <label>` per
  line (data/lists.py), paths relative to --data_dir, the label the last word of the line
  (paths may contain spaces). Labels are all integers (classes 0..C-1; C = the lines of
  --class_names, else the largest train label + 1) or all class names (the classes: the
  lines of --class_names in order, else the sorted names of the train list). The first
  train label sets the kind; a label of the other kind, or outside the classes, is an
  error naming file and line. (A name label is one word; names with spaces: integer
  labels and a --class_names file.)
--class_names: optional file, one class name per line (line c names class c).

Both are decoded at --decode_size (0: --image_size) and trained at --image_size (crops
when larger: --augment=crop_flip:SIZE or resized_crop:SIZE), normalised with the
ImageNet mean and std. The labels are used as given: the synthetic-noise flags do not
apply. A class without training images is refused (nothing could learn it).
"""
import os

import numpy as np
from absl import logging

from famus_tf.data import lists, prepared

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
SPLITS = ("train", "trusted", "val", "test")
LIST_FLAGS = {"train": "train_list", "trusted": "trusted_list", "test": "test_list"}


def _class_dirs(split_dir):
    return sorted(e.name for e in os.scandir(split_dir) if e.is_dir() and not e.name.startswith("."))


def _image_files(class_dir):
    """(sorted image file paths of a class folder, number of other files ignored)."""
    files = sorted(e.name for e in os.scandir(class_dir)
                   if e.is_file() and not e.name.startswith("."))
    images = [n for n in files if n.lower().endswith(IMAGE_EXTENSIONS)]
    return [os.path.join(class_dir, n) for n in images], len(files) - len(images)


def read_folder(root):
    """{'class_names', 'splits': {split: (paths, labels)}} of the folders present."""
    train = os.path.join(root, "train")
    if not os.path.isdir(train):
        raise FileNotFoundError(f"--dataset=folder: {train} not found (expected "
                                "DATA_DIR/train/<class>/<image files>)")
    classes = _class_dirs(train)
    if not classes:
        raise ValueError(f"--dataset=folder: {train} has no class folders (expected "
                         "train/<class>/<image files>)")
    index = {c: i for i, c in enumerate(classes)}
    out = {"class_names": tuple(classes), "splits": {}}
    for split in SPLITS:
        split_dir = os.path.join(root, split)
        if not os.path.isdir(split_dir):
            continue
        paths, labels, ignored = [], [], 0
        for name in _class_dirs(split_dir):
            if name not in index:
                raise ValueError(f"--dataset=folder: {os.path.join(split_dir, name)}: class "
                                 f"{name!r} is not a folder of {train} (the classes are train's)")
            files, other = _image_files(os.path.join(split_dir, name))
            paths += files
            labels += [index[name]] * len(files)
            ignored += other
        out["splits"][split] = (np.asarray(paths, str), np.asarray(labels, np.int64))
        if ignored:
            logging.warning("--dataset=folder: %d file(s) in %s ignored (not %s)", ignored,
                            split_dir, " ".join(IMAGE_EXTENSIONS))
    return out


def read_class_names(path):
    """The class names of a --class_names file (line c: class c); duplicates are errors."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--class_names file {path} not found")
    names, seen = [], {}
    for lineno, line in lists.text_lines(path, "class names, one per line"):
        name = line.strip()
        if not name:
            continue
        if name in seen:
            raise ValueError(f"{path}:{lineno}: class {name!r} repeats line {seen[name]}")
        seen[name] = lineno
        names.append(name)
    if not names:
        raise ValueError(f"{path}: no class names")
    return names


def _list_classes(data_cfg, train_rows, by_name):
    """(class names, where they come from) of a list data set."""
    if data_cfg.class_names:
        return read_class_names(data_cfg.class_names), f"--class_names={data_cfg.class_names}"
    if by_name:
        return sorted({t for _, _, t in train_rows if not lists.is_int(t)}), "the train list"
    top = max((int(t) for _, _, t in train_rows if lists.is_int(t)), default=-1)
    return [str(c) for c in range(top + 1)], "the largest train label + 1"


def _label(path, lineno, token, by_name, index, names, source):
    """The class index of one label token; ValueError naming file and line."""
    if lists.is_int(token) == by_name:
        kinds = ("a number", "names") if by_name else ("a name", "numbers")
        raise ValueError(f"{path}:{lineno}: label {token!r} is {kinds[0]} but the train list labels "
                         f"by {kinds[1]}; use one kind")
    label = index.get(token, -1) if by_name else int(token)
    if not 0 <= label < len(names):
        shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
        raise ValueError(f"{path}:{lineno}: label {token!r} is not a class ({len(names)} from "
                         f"{source}: {shown})")
    return label


def read_lists(data_cfg):
    """The folder reader's dict for the --train_list/--trusted_list/--test_list files."""
    if not data_cfg.train_list:
        raise ValueError("--train_list is required for --dataset=list")
    files = {s: getattr(data_cfg, f) for s, f in LIST_FLAGS.items() if getattr(data_cfg, f)}
    rows = {s: lists.read_lines(p, f"--{LIST_FLAGS[s]} file", spaces_in_paths=True)
            for s, p in files.items()}
    if not rows["train"]:
        raise ValueError(f"--train_list={files['train']}: no lines")
    by_name = not lists.is_int(rows["train"][0][2])
    names, source = _list_classes(data_cfg, rows["train"], by_name)
    index = {n: i for i, n in enumerate(names)}
    out = {"class_names": tuple(names), "splits": {}}
    root = data_cfg.data_dir or ""
    for split, split_rows in rows.items():
        labels = [_label(files[split], n, t, by_name, index, names, source) for n, _, t in split_rows]
        paths = [os.path.join(root, p) for _, p, _ in split_rows]
        out["splits"][split] = (np.asarray(paths, str), np.asarray(labels, np.int64))
    return out


def load(kind, data_cfg):
    """The reader's dict of `kind` ('folder' or 'list')."""
    return read_folder(data_cfg.data_dir) if kind == "folder" else read_lists(data_cfg)


def check_splits(kind, data_cfg):
    """{split: (paths, labels)} and the class names."""
    d = load(kind, data_cfg)
    return d["splits"], d["class_names"]


def has_trusted(kind, data_cfg):
    """True when a trusted set is given (trusted/ in DATA_DIR, or --trusted_list)."""
    if kind == "list":
        return bool(data_cfg.trusted_list)
    return bool(data_cfg.data_dir) and os.path.isdir(os.path.join(data_cfg.data_dir, "trusted"))


def sizes(data_cfg):
    """(decoded size, trained size) of --decode_size and --image_size."""
    decode = data_cfg.decode_size or data_cfg.image_size
    if decode < data_cfg.image_size:
        raise ValueError(f"--decode_size={decode} is smaller than --image_size={data_cfg.image_size}")
    return decode, data_cfg.image_size


def prepare(kind, data_cfg, noise_cfg):
    """The Prepared data set: train as given, trusted as the meta set (empty without one),
    test (or val) as the test set; class-balanced epochs with --num_batches > 0."""
    del noise_cfg  # the labels are used as given
    d = load(kind, data_cfg)
    s, names = d["splits"], d["class_names"]
    train = prepared.existing(s["train"][0], [s["train"][1]], f"{kind} train")
    empty = np.flatnonzero(np.bincount(train[1], minlength=len(names)) == 0)
    if empty.size:
        raise ValueError(f"--dataset={kind}: class {names[empty[0]]!r} has no training images "
                         f"({empty.size} such class(es)); add images or remove the class")
    meta = (prepared.existing(s["trusted"][0], [s["trusted"][1]], f"{kind} trusted")
            if "trusted" in s else prepared.no_meta_set(train[0]))
    if "trusted" in s and not len(meta[1]):
        where = "DATA_DIR/trusted/" if kind == "folder" else f"--trusted_list={data_cfg.trusted_list}"
        raise ValueError(f"--dataset={kind}: the trusted set ({where}) has no images; add some or "
                         "remove it")
    test_split = "test" if "test" in s else "val" if "val" in s else None
    if test_split:
        test = prepared.existing(s[test_split][0], [s[test_split][1]], f"{kind} {test_split}")
    else:
        logging.warning("--dataset=%s: no test or val split; the reported test accuracy is "
                        "over no images (0)", kind)
        test = prepared.no_meta_set(train[0])
    decode, size = sizes(data_cfg)
    return prepared.Prepared(kind, len(names), (size, size, 3), prepared.IMAGENET_MEAN,
                             prepared.IMAGENET_STD, *train, None, *meta, *test, decode_size=decode,
                             balanced_batches=data_cfg.num_batches or None,
                             class_names=tuple(names))
