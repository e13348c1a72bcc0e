"""The data-set registry: one entry per `--dataset`, and `prepare`.

Each entry names the functions of the module that reads the data set's released form
(data/<module>.py) and says what the rest of the program needs to know about it:

  prepare(data_cfg, noise_cfg) -> Prepared   training set with noisy labels, clean meta
                                             set (taken out before corruption), test set
  check_splits(data_cfg) -> ({split: (images or paths, labels)}, num_classes or the
                             class names)    what `python -m famus_tf.data.check` scans
  needs_data_dir   False only for data embedded in a package (digits)
  clean_labels     a clean meta set exists, so the meta methods can run (WebVision and
                   CNWL need the pseudo-clean set of Algorithm 2); a function of the
                   DataConfig where the user's data decide (folder, list: a trusted set)
  add_clean_set    what to add for a clean meta set, in the message that refuses a meta
                   method without one (`no_clean_set_message`)
  decode_size      image files decoded to this many pixels (an int, or the DataConfig
                   field that sets it); None: arrays in memory
  convertible      image files that `python -m famus_tf.data.convert` writes as TFRecords
                   (the in-memory data sets have nothing to decode)

`--dataset`, the data checks of famus_tf.main, `check` and `convert` read this table.
Adding a data set = a module with its reader, `check_splits` and `prepare`, and one
entry below.
"""
import dataclasses
import functools
from typing import Callable, Optional, Union

from famus_tf.data import cifar, clothing1m, cnwl, digits, own, webvision
from famus_tf.data.prepared import Prepared, with_holdout  # noqa: F401  (what prepare returns)


@dataclasses.dataclass(frozen=True)
class DataSet:
    name: str
    summary: str
    prepare: Callable
    check_splits: Callable
    needs_data_dir: bool = True
    clean_labels: Union[bool, Callable] = True
    decode_size: Union[int, str, Callable, None] = None
    convertible: bool = False
    add_clean_set: str = ""

    def stored_size(self, data_cfg) -> Optional[int]:
        """Pixels the image files are decoded to under `data_cfg` (None: in memory)."""
        if isinstance(self.decode_size, str):
            return getattr(data_cfg, self.decode_size)
        if callable(self.decode_size):
            return self.decode_size(data_cfg)
        return self.decode_size

    def has_clean_labels(self, data_cfg) -> bool:
        """A clean meta set exists under `data_cfg`."""
        return self.clean_labels(data_cfg) if callable(self.clean_labels) else self.clean_labels


def _cifar(name, suffix, summary, prepare, check_splits, **kwargs):
    return DataSet(name + suffix, summary, functools.partial(prepare, name, **kwargs),
                   functools.partial(check_splits, name))


_ENTRIES = (
    DataSet("digits", "scikit-learn's 8x8 digits, embedded (no --data_dir)", digits.prepare,
            digits.check_splits, needs_data_dir=False),
    _cifar("cifar10", "", "CIFAR-10, synthetic noise", cifar.prepare, cifar.check_splits),
    _cifar("cifar100", "", "CIFAR-100, synthetic noise", cifar.prepare, cifar.check_splits),
    _cifar("cifar10", "n", "CIFAR-10N human labels (--label_set)", cifar.prepare_n,
           cifar.check_splits_n),
    _cifar("cifar100", "n", "CIFAR-100N human labels", cifar.prepare_n, cifar.check_splits_n),
    _cifar("cifar10", "_lt", "long-tailed CIFAR-10 (--imbalance)", cifar.prepare,
           cifar.check_splits, long_tail=True),
    _cifar("cifar100", "_lt", "long-tailed CIFAR-100 (--imbalance)", cifar.prepare,
           cifar.check_splits, long_tail=True),
    DataSet("clothing1m", "Clothing1M, real noise, image files", clothing1m.prepare,
            clothing1m.check_splits, decode_size=clothing1m.DECODE_SIZE, convertible=True),
    DataSet("webvision", "mini-WebVision, image files, no clean labels", webvision.prepare,
            webvision.check_splits, clean_labels=False, decode_size=webvision.DECODE_SIZE,
            convertible=True),
    DataSet("cnwl_red", "CNWL red (web noise) mini-ImageNet, no clean labels",
            functools.partial(cnwl.prepare, "red"), functools.partial(cnwl.check_splits, "red"),
            clean_labels=False, decode_size="image_size", convertible=True),
    DataSet("cnwl_blue", "CNWL blue (synthetic noise) mini-ImageNet, no clean labels",
            functools.partial(cnwl.prepare, "blue"), functools.partial(cnwl.check_splits, "blue"),
            clean_labels=False, decode_size="image_size", convertible=True),
    DataSet("folder", "your own images, DATA_DIR/train/<class>/* (+ trusted/, val/ or test/)",
            functools.partial(own.prepare, "folder"), functools.partial(own.check_splits, "folder"),
            clean_labels=functools.partial(own.has_trusted, "folder"),
            decode_size=lambda cfg: own.sizes(cfg)[0], convertible=True,
            add_clean_set="add DATA_DIR/trusted/<class>/ with a few hand-checked images per class"),
    DataSet("list", "your own images, --train_list (+ --trusted_list, --test_list) of "
            "'<path> <label>' lines", functools.partial(own.prepare, "list"),
            functools.partial(own.check_splits, "list"),
            clean_labels=functools.partial(own.has_trusted, "list"),
            decode_size=lambda cfg: own.sizes(cfg)[0], convertible=True,
            add_clean_set="add --trusted_list with a few hand-checked images per class"),
)
REGISTRY = {d.name: d for d in _ENTRIES}
DATASETS = tuple(REGISTRY)
CONVERTIBLE = tuple(d.name for d in _ENTRIES if d.convertible)


def get(name):
    """The registry entry of `name`; ValueError naming the known ones otherwise."""
    if name not in REGISTRY:
        raise ValueError(f"--dataset: unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    return REGISTRY[name]


def describe():
    """One line per data set, for --help."""
    return "; ".join(f"{d.name}: {d.summary}" for d in _ENTRIES)


def no_clean_set_message(name, method):
    """The one-line refusal of a meta method on a data set without a clean meta set,
    saying what to add."""
    entry = get(name)
    add = entry.add_clean_set + ", or " if entry.add_clean_set else ""
    return (f"--method={method} needs a clean meta set and --dataset={name} has none: {add}use "
            "--meta_set=pseudo_clean (the pseudo-clean set of Algorithm 2), or --method=plain")


def prepare(data_cfg, noise_cfg):
    """The Prepared dataset named by `data_cfg.dataset`, with `data_cfg.holdout_fraction`
    of its training set held out (prepared.with_holdout; split with the noise seed)."""
    data = get(data_cfg.dataset).prepare(data_cfg, noise_cfg)
    return with_holdout(data, data_cfg.holdout_fraction, noise_cfg.seed)
