"""famus-tf training driver: `python -m famus_tf.main --flagfile=launch/<setting>.cfg`.

Without a --flagfile it runs launch/quickstart.cfg, the embedded default (flags
given on the command line override it). Flags are
parsed and validated here (a bad value or flagfile: one message, exit code 2,
before any work), turned into plain config objects, and passed down.
"""
import os
import re
import sys

from absl import app, flags

import flags as _famus_flags  # noqa: F401  (defines every flag)
from famus_tf import config as cfg
from famus_tf.data.noise import NoiseConfig

FLAGS = flags.FLAGS
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUICKSTART = os.path.join(REPO, "launch", "quickstart.cfg")


class FlagError(ValueError):
    """A flag value that parses but makes no sense; the message names the flag."""


def _ints(name, values):
    try:
        return tuple(int(v) for v in values)
    except ValueError:
        raise FlagError(f"--{name}: expected comma-separated integers, got {','.join(values)!r}")


def _transition(text):
    if text is None:
        return None
    try:
        return tuple(tuple(float(x) for x in row.split(",")) for row in text.split(";"))
    except ValueError:
        raise FlagError(f"--noise_transition: cannot parse {text!r} (rows ';', entries ',')")


def build_experiment(f):
    """Plain configs from parsed flags `f`; raises FlagError naming the bad flag."""
    from famus_tf import models
    from famus_tf.data.datasets import DATASETS
    from famus_tf.train.loop import Experiment
    if f.dataset not in DATASETS:
        raise FlagError(f"--dataset: unknown {f.dataset!r}; known: {', '.join(DATASETS)}")
    if f.dataset != "digits" and not f.data_dir:
        raise FlagError(f"--data_dir is required for --dataset={f.dataset}")
    if f.data_dir and not os.path.isdir(f.data_dir):
        raise FlagError(f"--data_dir: {f.data_dir} is not a directory")
    if f.noise_type == "file" and not (f.noise_file and os.path.isfile(f.noise_file)):
        raise FlagError(f"--noise_file: {f.noise_file!r} is not a file (needed by --noise_type=file)")
    if f.noise_type == "transition" and not f.noise_transition:
        raise FlagError("--noise_transition is required by --noise_type=transition")
    if f.records_dir and not os.path.isfile(os.path.join(f.records_dir, "train.json")):
        raise FlagError(f"--records_dir: {f.records_dir} holds no converted training split "
                        "(train.json); write it with python -m famus_tf.data.convert")
    from famus_tf.data.convert import DATASETS as CONVERTIBLE
    if f.records_dir and f.dataset not in CONVERTIBLE:
        raise FlagError(f"--records_dir: only image-file data sets are converted, not --dataset={f.dataset}")
    if f.weights_path and not os.path.isfile(f.weights_path):
        raise FlagError(f"--weights_path: {f.weights_path} does not exist")
    if f.dataset in ("webvision", "cnwl_red", "cnwl_blue") and f.method != "plain":
        raise FlagError(f"--method: {f.dataset} has no clean labels; its meta set is the pseudo-clean "
                        "set of Algorithm 2, not yet implemented. Use --method=plain for now.")
    if f.xla and f.strategy != "default":
        raise FlagError(f"--xla: compiles the one-device step; with --strategy={f.strategy} leave it "
                        "off (TPU steps are always XLA-compiled)")
    if f.devices and f.strategy != "mirrored":
        raise FlagError(f"--devices is only used by --strategy=mirrored (got --strategy={f.strategy})")
    if f.method != "plain" and f.meta_per_class < 1:
        raise FlagError(f"--meta_per_class must be at least 1 for --method={f.method}")
    candidates = f.candidates
    if candidates == "last_stage":
        candidates = "block:" + models.last_stage(f.model)
    if not re.fullmatch(r"none|crop_flip|crop_flip:\d+|resized_crop:\d+", f.augment):
        raise FlagError(f"--augment: expected none, crop_flip, crop_flip:SIZE or resized_crop:SIZE, "
                        f"got {f.augment!r}")
    if not (candidates == "all" or candidates.startswith(("top:", "block:"))):
        raise FlagError(f"--candidates: expected all, top:N, block:PREFIX or last_stage, got {candidates!r}")
    run = cfg.RunConfig(model_dir=f.model_dir, model=f.model, epochs=f.epochs, max_steps=f.max_steps,
                        lr_epochs=_ints("lr_epochs", f.lr_epochs), steps_per_call=f.steps_per_call,
                        seed=f.seed, xla=f.xla, checkpoint_every=f.checkpoint_every,
                        keep_checkpoints=f.keep_checkpoints, export=f.export,
                        export_only=f.export_only, profile_split=f.profile_split, weights_path=f.weights_path,
                        compare_baseline=f.compare_baseline, strategy=f.strategy,
                        devices=tuple(f.devices), logical_cpus=f.logical_cpus,
                        tpu_address=f.tpu_address, sync_batchnorm=f.sync_batchnorm)
    data = cfg.DataConfig(dataset=f.dataset, data_dir=f.data_dir, batch_size=f.batch_size,
                          meta_batch_size=f.meta_batch_size, meta_per_class=f.meta_per_class,
                          eval_batch_size=f.eval_batch_size, augment=f.augment,
                          imbalance=f.imbalance, label_set=f.label_set, source=f.source,
                          num_batches=f.num_batches, cnwl_level=float(f.cnwl_level),
                          image_size=f.image_size, records_dir=f.records_dir)
    noise = NoiseConfig(noise_type=f.noise_type, rate=f.noise_rate, seed=f.noise_seed,
                        transition=_transition(f.noise_transition), path=f.noise_file)
    meta = cfg.MetaConfig(method=f.method, famus=f.famus, gate_policy=f.gate_policy,
                          candidates=candidates, head_prefix=models.head_prefix(f.model),
                          head_always_on=f.head_always_on, num_active=f.num_active,
                          lambda_r=f.lambda_r, lambda_g=f.lambda_g, lr_loss=f.lr_loss,
                          lg_loss=f.lg_loss, gumbel_tau=f.gumbel_tau, sampler_hidden=f.sampler_hidden,
                          sampler_depth=f.sampler_depth,
                          num_segments=f.num_segments if f.num_segments is not None else (
                              0 if f.xla or f.strategy == "tpu" else 8),
                          normalise_weights=f.normalise_weights, weighting_hidden=f.weighting_hidden,
                          meta_lr=f.meta_lr, meta_momentum=f.meta_momentum,
                          meta_weight_decay=f.meta_weight_decay, sampler_lr=f.sampler_lr,
                          sampler_momentum=f.sampler_momentum, mlc_reset=f.mlc_reset, seed=f.seed)
    optim = cfg.OptimConfig(lr=f.lr, momentum=f.momentum, nesterov=f.nesterov,
                            weight_decay=f.weight_decay, lr_boundaries=_ints("lr_steps", f.lr_steps),
                            lr_decay=f.lr_decay, virtual_lr=f.virtual_lr)
    return Experiment(run, data, noise, meta, optim)


def parse_flags(argv):
    """absl parsing with exit code 2 and one message for any bad flag or flagfile."""
    if not any(a.startswith(("--flagfile", "-flagfile")) for a in argv[1:]):
        # No flagfile: the embedded default, with any flags given overriding it.
        argv = argv[:1] + [f"--flagfile={QUICKSTART}"] + argv[1:]
    try:
        return FLAGS(argv)
    except flags.Error as e:
        sys.stderr.write(f"famus_tf.main: error: {e}\n")
        sys.exit(2)


def prepare_data(exp):
    """Loads the data and checks it against the flags; raises FlagError / ValueError /
    FileNotFoundError naming the flag, file or line, before any training."""
    from famus_tf.data import datasets
    prepared = datasets.prepare(exp.data, exp.noise)
    size = exp.data.augment.partition(":")[2]
    if size and int(size) != prepared.image_shape[0]:
        raise FlagError(f"--augment={exp.data.augment}: crops of {size} do not match the "
                        f"{prepared.image_shape[0]}x{prepared.image_shape[1]} input of --dataset={exp.data.dataset}")
    if prepared.decode_size and not size and prepared.decode_size != prepared.image_shape[0]:
        raise FlagError(f"--augment: --dataset={exp.data.dataset} stores {prepared.decode_size}px "
                        f"images and trains on {prepared.image_shape[0]}px crops; use crop_flip:"
                        f"{prepared.image_shape[0]} or resized_crop:{prepared.image_shape[0]}")
    if exp.data.records_dir:
        from famus_tf.data import records
        try:
            records.check_labels(exp.data.records_dir, "train", prepared.train_labels)
        except (ValueError, FileNotFoundError) as e:
            raise FlagError(f"--records_dir: {e}")
    return prepared


def build_strategy(run):
    """The run's tf.distribute strategy (created before any other TensorFlow work, as
    multi-worker and TPU strategies require)."""
    from famus_tf.train import distribute
    if run.logical_cpus:
        distribute.logical_cpus(run.logical_cpus)
    return distribute.build_strategy(run.strategy, run.devices, run.tpu_address)


def run_experiment(exp, prepared, strategy=None):
    """Trains (and, if asked, the plain-CE baseline on the same noisy labels); returns results."""
    import dataclasses
    from famus_tf.train.loop import Trainer
    results = {"main": Trainer(exp, prepared, strategy).run()}
    if exp.run.compare_baseline and exp.meta.method != "plain":
        base = dataclasses.replace(
            exp, run=dataclasses.replace(exp.run, model_dir=os.path.join(exp.run.model_dir, "baseline_ce"),
                                         export=False),
            meta=dataclasses.replace(exp.meta, method="plain", famus=False))
        results["baseline_ce"] = Trainer(base, prepared, strategy).run()
    return results


def main(argv):
    import tensorflow as tf
    # Keep TensorFlow's own INFO lines (checkpoint sharding, export) out of the run log.
    tf.get_logger().setLevel("WARNING")
    import logging as std_logging
    std_logging.getLogger("absl").addFilter(
        lambda r: r.levelno >= std_logging.WARNING or "site-packages" not in r.pathname)
    if len(argv) > 1:
        sys.stderr.write(f"famus_tf.main: error: unexpected arguments {argv[1:]}\n")
        sys.exit(2)
    try:
        exp = build_experiment(FLAGS)
    except (FlagError, ValueError) as e:
        sys.stderr.write(f"famus_tf.main: error: {e}\n")
        sys.exit(2)
    from famus_tf.train.checkpoint import ConfigMismatch
    try:
        strategy = build_strategy(exp.run)
    except ValueError as e:
        sys.stderr.write(f"famus_tf.main: error: {e}\n")
        sys.exit(2)
    try:
        prepared = prepare_data(exp)
    except (ValueError, FileNotFoundError) as e:
        sys.stderr.write(f"famus_tf.main: error: {e}\n")
        sys.exit(2)
    try:
        results = run_experiment(exp, prepared, strategy)
    except ConfigMismatch as e:
        sys.stderr.write(f"famus_tf.main: error: {e}\n")
        sys.exit(2)
    except (tf.errors.UnavailableError, tf.errors.DeadlineExceededError) as e:
        if exp.run.strategy != "multi_worker_mirrored":
            raise
        sys.stderr.write(f"famus_tf.main: error: a worker of the cluster stopped or cannot be reached "
                         f"({type(e).__name__}: {str(e).splitlines()[0]}). Restart every worker with the "
                         f"same flags: the run resumes from the last checkpoint in {exp.run.model_dir}.\n")
        sys.exit(3)
    from famus_tf.train.distribute import is_chief
    if not is_chief(strategy):
        return
    m = results["main"]
    name = exp.meta.method + (" + FaMUS" if exp.meta.famus and exp.meta.method != "plain" else "")
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
    from famus_tf.train import results as run_results
    noise = prepared.noise_summary()
    rate = noise["realised_rate"] if noise else None
    run_results.write_run(exp.run.model_dir, m, rate)
    if "baseline_ce" in results:
        run_results.write_run(os.path.join(exp.run.model_dir, "baseline_ce"), results["baseline_ce"], rate)


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
