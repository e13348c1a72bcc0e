"""Checkpoints that resume exactly, and refuse a run of another configuration.

Everything that changes during training goes into one `tf.train.Checkpoint`:
base network, meta model, samplers, every optimiser (their iteration counters are
the step), the input iterators (tf.data saves their position and shuffle state),
the run's own counters (best accuracy, selection counts) and the per-example store of
the meta-learned weights (train/weight_store.py). The gate noise is a
function of the step (famus_tf/counter_rng.py), so no generator state is needed.
`tf.train.CheckpointManager` keeps the newest `keep` checkpoints.

The resolved configuration is written to `config.json` in the model directory; a
restart with a different training configuration is refused before any work.
"""
import glob
import json
import os
import shutil

import tensorflow as tf

# Fields that may change between a run and its resumption.
RUN_ONLY = ("epochs", "max_steps", "checkpoint_every", "keep_checkpoints", "export", "export_only",
            "steps_per_call", "compare_baseline", "profile_split", "on_nonfinite", "log_every_secs",
            "model_dir", "strategy", "devices", "logical_cpus", "tpu_address")


class ConfigMismatch(ValueError):
    """The model directory holds a checkpoint of another configuration, or one whose
    configuration cannot be read."""


class Unrestorable(ValueError):
    """The latest checkpoint cannot be read (truncated or damaged files)."""


class SaveFailed(RuntimeError):
    """Writing a checkpoint or the SavedModel failed (disk full, directory gone or
    read-only); the message is one line and says what survives."""


def first_line(error):
    """The first line of a (TensorFlow) error message, without TF's function-node prefix."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text.split("}} ")[-1]


def save(mgr, step):
    """`mgr.save` at `step`; a failed write raises SaveFailed (its partial files removed;
    the checkpoints written before stay, and the same command resumes from them)."""
    try:
        return mgr.save(checkpoint_number=step)
    except (tf.errors.OpError, OSError) as e:
        for tmp in glob.glob(os.path.join(mgr.directory, f"ckpt-{step}_temp*")):
            shutil.rmtree(tmp, ignore_errors=True)
        kept = mgr.latest_checkpoint or "none yet"
        raise SaveFailed(f"saving the checkpoint of step {step} in {mgr.directory} failed: "
                         f"{first_line(e)}. Last good checkpoint: {kept}; free space (or fix the "
                         f"directory) and run the same command to resume.") from None


def _comparable(config):
    out = {}
    for group, fields in config.items():
        out[group] = {k: v for k, v in fields.items() if k not in RUN_ONLY}
    return out


def check_and_write_config(model_dir, config):
    """Writes config.json; raises ConfigMismatch if a checkpointed run there differs."""
    os.makedirs(model_dir, exist_ok=True)
    path = os.path.join(model_dir, "config.json")
    has_ckpt = tf.train.latest_checkpoint(model_dir) is not None
    if has_ckpt and os.path.exists(path):
        try:
            with open(path) as fh:
                old = json.load(fh)
        except ValueError as e:  # JSON (and UTF-8) decoding errors
            raise ConfigMismatch(
                f"{path} is not readable JSON ({e}); it records the configuration of the "
                f"checkpoint in {model_dir}: restore it, or use another --model_dir") from None
        a, b = _comparable(old), _comparable(json.loads(json.dumps(config)))
        diffs = [f"{g}.{k}: checkpoint has {a.get(g, {}).get(k)!r}, flags give {b[g][k]!r}"
                 for g in b for k in b[g] if a.get(g, {}).get(k) != b[g][k]]
        if diffs:
            raise ConfigMismatch(
                f"{model_dir} holds a checkpoint of another configuration; use another "
                f"--model_dir or the same flags. Differences: " + "; ".join(diffs))
    with open(path, "w") as fh:
        json.dump(config, fh, indent=2, sort_keys=True)


def manager(model_dir, keep, restore_from=None, **trackables):
    """A CheckpointManager over a Checkpoint of `trackables`; restores the latest if any.

    `restore_from`: the directory to resume from when it is not the one written to
    (multi-worker runs: every worker saves, only the chief into the model directory,
    and every worker resumes from the chief's checkpoint).
    Returns (manager, restored_path_or_None).
    """
    ckpt = tf.train.Checkpoint(**trackables)
    mgr = tf.train.CheckpointManager(ckpt, model_dir, max_to_keep=keep)
    path = tf.train.latest_checkpoint(restore_from) if restore_from else mgr.latest_checkpoint
    if path:
        try:
            ckpt.restore(path).assert_existing_objects_matched()
        except (tf.errors.OpError, IndexError, ValueError) as e:  # a cut or damaged file
            raise Unrestorable(
                f"cannot restore the checkpoint {path}: {first_line(e)}. If its files are damaged "
                f"(a copy cut short, a full disk), delete them to resume from the one before "
                f"(the file 'checkpoint' lists them), or use another --model_dir") from None
    return mgr, path
