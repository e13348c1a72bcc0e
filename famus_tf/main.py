"""famus-tf training driver: `python -m famus_tf.main --flagfile=launch/<setting>.cfg`.

Without a --flagfile it runs launch/quickstart.cfg, the embedded default (flags
given on the command line override it). Flags are defined in flags/ (with the
defaults of famus_tf/config.py and the format checks of the modules that own each
format), checked here against each other and against the disk (`validate`), turned
into plain config objects (`build_experiment`), and passed down.

Exit codes, decided in one place (`classify`, called by `main`'s error boundary; flag
parsing errors are bad input), each with one line `famus_tf.main: error: ...` (`fail`)
naming the flag, file or line:
  2  bad input, found before any work, nothing written (a bad flag, flagfile, data
     directory, data file or list line; --batch_size above the training set; a model
     directory that is a file, not writable, or holds a checkpoint of another
     configuration)
  1  a fault during the run: a non-finite loss or update (train/nonfinite.py), a failed
     checkpoint or export write, an OSError (one line each); anything unexpected keeps
     its traceback
  3  a worker of a multi-worker cluster stopped or cannot be reached (restart them all)
"""
import dataclasses
import glob
import logging as std_logging
import os

import tensorflow as tf  # (TensorFlow's start-up lines: famus_tf/startup.py)
from absl import flags, logging

import flags as famus_flags
from famus_tf import cli
from famus_tf.config import Experiment
from famus_tf.cotrain.trainer import CoTrainer
from famus_tf.data import augment, datasets, records
from famus_tf.meta import actual, selection
from famus_tf.train import checkpoint, distribute, nonfinite
from famus_tf.train import results as run_results
from famus_tf.train.loop import Trainer

FLAGS = flags.FLAGS
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUICKSTART = os.path.join(REPO, "launch", "quickstart.cfg")
BAD_INPUT, FAULT, LOST_WORKER = cli.BAD_INPUT, cli.FAULT, cli.LOST_WORKER


class FlagError(ValueError):
    """A flag value that parses but makes no sense; the message names the flag."""


def fail(message, code):
    """The one way the driver stops on a known error: one line, the documented exit code."""
    cli.fail("famus_tf.main", message, code)


def _check_paths(f):
    """The files and directories the flags name exist."""
    if f.data_dir and not os.path.isdir(f.data_dir):
        raise FlagError(f"--data_dir: {f.data_dir} is not a directory")
    if f.noise_type == "file" and not (f.noise_file and os.path.isfile(f.noise_file)):
        raise FlagError(f"--noise_file: {f.noise_file!r} is not a file (needed by --noise_type=file)")
    if f.records_dir and not os.path.isfile(os.path.join(f.records_dir, "train.json")):
        raise FlagError(f"--records_dir: {f.records_dir} holds no converted training split "
                        "(train.json); write it with python -m famus_tf.data.convert")
    if f.weights_path:
        _check_weights_file(f.weights_path)
    latest = tf.train.latest_checkpoint(f.model_dir)
    if not latest and glob.glob(os.path.join(f.model_dir, "ckpt-*.index")):
        raise FlagError(f"--model_dir: {f.model_dir} holds checkpoint files (ckpt-*) but no readable "
                        "file 'checkpoint' naming the latest; restore it (a line "
                        "model_checkpoint_path: \"ckpt-N\") or use another --model_dir")
    if f.export_only and not latest:
        raise FlagError(f"--export_only: no checkpoint in {f.model_dir}")
    _check_writable(f.model_dir)


WEIGHT_FILES = {".weights.h5": b"\x89HDF\r\n\x1a\n", ".h5": b"\x89HDF\r\n\x1a\n",
                ".keras": b"PK\x03\x04"}  # the formats Keras' load_weights reads, and their signatures


def _check_weights_file(path):
    """--weights_path is a file Keras can load weights from: its name ends in one of
    WEIGHT_FILES and it starts with that format's signature (HDF5, zip)."""
    if not os.path.isfile(path):
        raise FlagError(f"--weights_path: {path} does not exist")
    suffix = next((s for s in WEIGHT_FILES if path.endswith(s)), None)
    if suffix is None:
        raise FlagError(f"--weights_path: {path} is not a Keras weights file "
                        f"({', '.join(WEIGHT_FILES)})")
    with open(path, "rb") as fh:
        if not fh.read(8).startswith(WEIGHT_FILES[suffix]):
            raise FlagError(f"--weights_path: {path} is not a {suffix} file (its first bytes are "
                            "not that format's signature: truncated or another format?)")


WRITTEN_DIRS = {"tensorboard": "its TensorBoard logs", "export": "the SavedModel",
                "baseline_ce": "the plain cross-entropy baseline"}


def _check_writable(model_dir):
    """--model_dir is (or can be made) a writable directory (cli.unwritable_dir), and
    the directories the run writes into it are not files."""
    problem = cli.unwritable_dir(model_dir, "--model_dir")
    if problem:
        raise FlagError(problem)
    for sub, what in WRITTEN_DIRS.items():
        inside = os.path.join(os.path.abspath(model_dir), sub)
        if os.path.exists(inside) and not os.path.isdir(inside):
            raise FlagError(f"--model_dir: {inside} is a file where the run writes {what}; "
                            "move it away or use another --model_dir")


def _validate_pseudo_clean(f):
    """The combinations Algorithm 2 (--meta_set=pseudo_clean) runs with."""
    if f.method == "mlc":
        raise FlagError("--method=mlc: MLC corrects labels with a transition matrix and has no "
                        "co-training form; with --meta_set=pseudo_clean use mwnet, l2r or plain")
    if f.records_dir:
        raise FlagError("--records_dir: --meta_set=pseudo_clean reads the image files (its split "
                        "evaluates them by index); drop --records_dir")
    if f.lr_steps:
        raise FlagError("--lr_steps: with --meta_set=pseudo_clean epochs have different lengths; "
                        "give the decay epochs with --lr_epochs")


def validate(f):
    """Checks the parsed flags against each other, the data-set registry and the disk;
    raises FlagError naming the flag. (Each flag's own format is checked at parsing.)"""
    entry = datasets.get(f.dataset)
    if entry.needs_data_dir and not f.data_dir:
        raise FlagError(f"--data_dir is required for --dataset={f.dataset}")
    _check_paths(f)
    if f.noise_type == "transition" and not f.noise_transition:
        raise FlagError("--noise_transition is required by --noise_type=transition")
    if f.records_dir and not entry.convertible:
        raise FlagError(f"--records_dir: only image-file data sets are converted, not --dataset={f.dataset}")
    if f.records_dir and f.holdout_fraction:
        raise FlagError("--holdout_fraction: the TFRecords of --records_dir hold the whole training "
                        "split; hold out with the original files (drop --records_dir)")
    if (f.method != "plain" and f.meta_set != "pseudo_clean"
            and not entry.has_clean_labels(famus_flags.data.config(f))):
        raise FlagError(datasets.no_clean_set_message(f.dataset, f.method))
    if f.meta_set == "pseudo_clean":
        _validate_pseudo_clean(f)
    if f.xla and f.strategy != "default":
        raise FlagError(f"--xla: compiles the one-device step; with --strategy={f.strategy} leave it "
                        "off (TPU steps are always XLA-compiled)")
    if f.precision != "float32" and f.meta_set == "pseudo_clean":
        raise FlagError(f"--precision={f.precision}: Algorithm 2 (--meta_set=pseudo_clean) runs in "
                        "float32 only; drop --precision or use --meta_set=clean")
    if f.precision == "mixed_float16" and f.strategy != "default":
        raise FlagError(f"--precision=mixed_float16 runs on one device (its loss-scaled updates are "
                        f"conditional); with --strategy={f.strategy} use mixed_bfloat16")
    if f.devices and f.strategy != "mirrored":
        raise FlagError(f"--devices is only used by --strategy=mirrored (got --strategy={f.strategy})")
    if f.method != "plain" and f.meta_set == "clean" and f.meta_per_class < 1:
        raise FlagError(f"--meta_per_class must be at least 1 for --method={f.method}")
    if f.virtual_lr is not None and f.virtual_lr <= 0:
        raise FlagError(f"--virtual_lr must be positive (a zero virtual step makes every meta-gradient "
                        f"zero), got {f.virtual_lr}; leave it unset for the scheduled lr")
    if not 0.0 <= f.drw_beta < 1.0:
        raise FlagError(f"--drw_beta must be in [0, 1), got {f.drw_beta}")
    try:
        actual.check(f.method, f.actual_step, f.mlc_update)
    except ValueError as e:
        raise FlagError(str(e))
    if f.method == "mlc" and f.lr * f.batch_size > 1.0:
        logging.warning("--method=mlc sums its loss over the batch: --lr=%g with --batch_size=%d is "
                        "a step of %g on the mean loss, which usually diverges; divide a mean-loss "
                        "learning rate by the batch size (MLC's code: 1e-4)", f.lr, f.batch_size,
                        f.lr * f.batch_size)
    if f.head == "cosine" and f.loss != "ldam":
        raise FlagError("--head=cosine gives cosine logits in [-1, 1] that only the LDAM loss scales "
                        "(by --ldam_scale); use it with --loss=ldam")


def build_experiment(f):
    """Plain configs from parsed flags `f`; raises FlagError naming the bad flag."""
    validate(f)
    data = famus_flags.data.config(f)
    if f.meta_set == "pseudo_clean":  # no clean examples are set aside: the meta set is pseudo-clean
        data = dataclasses.replace(data, meta_per_class=0)
    return Experiment(run=famus_flags.run.config(f), data=data,
                      noise=famus_flags.noise.config(f), meta=famus_flags.method.config(f),
                      optim=famus_flags.optim.config(f), cotrain=famus_flags.cotrain.config(f))


def _default_flagfile(argv, flag_values=FLAGS):
    """No --flagfile: the embedded default launch/quickstart.cfg becomes the flags'
    defaults (so --help shows the values a flagless run uses), and the flags given
    override it."""
    if any(a.startswith(("--flagfile", "-flagfile")) for a in argv[1:]):
        return argv
    for arg in flag_values.read_flags_from_files([f"--flagfile={QUICKSTART}"]):
        name, value = arg.lstrip("-").split("=", 1)
        flag_values.set_default(name, value)
    return argv


parse_flags = cli.flags_parser(
    "famus_tf.main", prepare=_default_flagfile, doc=__doc__,
    note="defaults: without --flagfile those of launch/quickstart.cfg, the run a command "
         "without flags makes; with --flagfile=F those of famus_tf/config.py overridden by F")


def prepare_data(exp):
    """Loads the data and checks it against the flags; raises FlagError / ValueError /
    FileNotFoundError naming the flag, file or line, before any training."""
    prepared = datasets.prepare(exp.data, exp.noise)
    _, size = augment.parse(exp.data.augment)
    height, width = prepared.image_shape[:2]
    if size and size != height:
        raise FlagError(f"--augment={exp.data.augment}: crops of {size} do not match the "
                        f"{height}x{width} input of --dataset={exp.data.dataset}")
    if prepared.decode_size and not size and prepared.decode_size != height:
        raise FlagError(f"--augment: --dataset={exp.data.dataset} stores {prepared.decode_size}px "
                        f"images and trains on {height}px crops; use crop_flip:{height} or "
                        f"resized_crop:{height}")
    n, batch = len(prepared.train_labels), exp.data.batch_size
    if not prepared.balanced_batches and batch > n:
        raise FlagError(f"--batch_size={batch} is larger than the training set ({n} examples "
                        f"after the meta set is taken out); use at most {n}")
    if exp.data.records_dir:
        try:
            records.check_labels(exp.data.records_dir, "train", prepared.train_labels)
        except (ValueError, FileNotFoundError) as e:
            raise FlagError(f"--records_dir: {e}")
    return prepared


def build_strategy(run):
    """The run's tf.distribute strategy (created before any other TensorFlow work, as
    multi-worker and TPU strategies require)."""
    if run.logical_cpus:
        distribute.logical_cpus(run.logical_cpus)
    return distribute.build_strategy(run.strategy, run.devices, run.tpu_address)


def run_experiment(exp, prepared, strategy=None):
    """Trains (and, if asked, the plain-CE baseline on the same noisy labels); returns results."""
    pseudo_clean = exp.cotrain.meta_set == "pseudo_clean"
    trainer = CoTrainer if pseudo_clean else Trainer
    results = {"main": trainer(exp, prepared, strategy).run()}
    # the baseline: plain CE, one network (for Algorithm 2 with --method=plain too)
    if exp.run.compare_baseline and (exp.meta.method != "plain" or pseudo_clean):
        base = dataclasses.replace(
            exp, run=dataclasses.replace(exp.run, model_dir=os.path.join(exp.run.model_dir, "baseline_ce"),
                                         export=False),
            meta=dataclasses.replace(exp.meta, method="plain", famus=False),
            cotrain=dataclasses.replace(exp.cotrain, meta_set="clean"))
        results["baseline_ce"] = Trainer(base, prepared, strategy).run()
    return results


def report(exp, prepared, results):
    """Prints the test accuracies and where the outputs are; writes results.json."""
    m = results["main"]
    name = exp.meta.method + (" + FaMUS" if exp.meta.famus and exp.meta.method != "plain" else "")
    if exp.cotrain.meta_set == "pseudo_clean":
        name += " (Algorithm 2: two networks, pseudo-clean meta set; ensemble)"
    lines = [f"{name}: clean test accuracy last {m['last_top1']:.4f}, best {m['best_top1']:.4f} "
             f"(top-5 last {m['top5']:.4f})"]
    if "baseline_ce" in results:
        b = results["baseline_ce"]
        lines.append(f"plain cross-entropy on the same noisy labels: last {b['last_top1']:.4f}, "
                     f"best {b['best_top1']:.4f}")
    lines.append(f"TensorBoard: tensorboard --logdir {exp.run.model_dir}")
    if m.get("export_dir"):
        lines.append(f"SavedModel: {m['export_dir']}")
    print("\n".join(lines))
    noise = prepared.noise_summary()
    rate = noise["realised_rate"] if noise else None
    run_results.write_run(exp.run.model_dir, m, rate)
    if "baseline_ce" in results:
        run_results.write_run(os.path.join(exp.run.model_dir, "baseline_ce"), results["baseline_ce"], rate)


def classify(error, exp, started):
    """(exit code, one-line message) of a known error; (None, None) for a fault, which
    keeps its traceback (exit code 1). `started`: training had begun."""
    if isinstance(error, (nonfinite.NonFinite, checkpoint.SaveFailed)):
        return FAULT, str(error)
    if isinstance(error, (checkpoint.ConfigMismatch, checkpoint.Unrestorable,
                          selection.TooFewCandidates)) or (
            not started and isinstance(error, (ValueError, FileNotFoundError))):
        return BAD_INPUT, str(error)
    if (started and exp.run.strategy == "multi_worker_mirrored"
            and isinstance(error, (tf.errors.UnavailableError, tf.errors.DeadlineExceededError))):
        return LOST_WORKER, (
            f"a worker of the cluster stopped or cannot be reached ({type(error).__name__}: "
            f"{str(error).splitlines()[0]}). Restart every worker with the same flags: the run "
            f"resumes from the last checkpoint in {exp.run.model_dir}.")
    if isinstance(error, OSError):  # a file that cannot be written or read; names the file
        return FAULT, f"{type(error).__name__}: {error}"
    return None, None


def _quiet_logs():
    """Keeps TensorFlow's own INFO lines (checkpoint sharding, export) out of the run log."""
    tf.get_logger().setLevel("WARNING")
    std_logging.getLogger("absl").addFilter(
        lambda r: r.levelno >= std_logging.WARNING or "site-packages" not in r.pathname)


def main(argv):
    _quiet_logs()
    exp, started = None, False
    try:  # the error boundary: every known error leaves through `classify`
        if len(argv) > 1:
            raise FlagError(f"unexpected arguments {argv[1:]}")
        exp = build_experiment(FLAGS)
        strategy = build_strategy(exp.run)
        prepared = prepare_data(exp)
        started = True
        results = run_experiment(exp, prepared, strategy)
    except Exception as e:  # noqa: BLE001 -- classified below; unknown ones re-raised
        code, message = classify(e, exp, started)
        if code is None:
            raise
        fail(message, code)
    if distribute.is_chief(strategy):
        report(exp, prepared, results)


if __name__ == "__main__":
    cli.run_and_exit(main, parse_flags)
