"""`results.json`: what one finished run measured, one file in its model directory.

The driver writes it at the end of every run (the main run into MODEL_DIR, the
`--compare_baseline` run into MODEL_DIR/baseline_ce, a run directory of its own);
`python -m famus_tf.report` and `python -m famus_tf.study` read it. Fields
(docs/results.md has the full description):

- `status`: "finished". A study writes "failed" (with `exit_code` and `error`, the
  last line the run wrote on stderr) for a run whose process failed; a directory with
  `config.json` and no `results.json` is an unfinished (or killed) run.
- `config`: the resolved configuration, the same dict as `config.json`.
- `steps`: training steps taken.
- `tests`: `{SET: {last_top1, last_top5, last_loss, best_top1, best_top5}}` for the
  main test set (`test`) and every extra one (e.g. WebVision's `imagenet_val`); "last"
  is the final evaluation, "best" the maximum over the per-epoch evaluations (the
  TensorBoard scalars `SET/top1`, `SET/top5`) and the final one.
- `wall_seconds`: for each process that trained the run (a killed and resumed run has
  several), the time from its first to its last TensorBoard event, summed.
- `ms_per_step`: mean training time per step over the run's steps, i.e.
  sum_c n_c t_c / sum_c n_c over the multi-step calls c of n_c steps taking t_c ms
  per step (TensorBoard `train/ms_per_step`; the first call includes tracing).
- `realised_noise_rate`: fraction of training labels that differ from the true
  ones; null where the true labels are unknown.
- `weights`: `{"clean": m_c, "noisy": m_n}`, the mean example weight of clean and of
  noisy training examples over the run's last epoch (MW-Net, L2R; null for plain and
  MLC, which weigh no examples). Only the last batch of each multi-step call (of the
  first replica) is counted: with `--steps_per_call=10` one batch in ten.
- `variables_sha1`, and `export_dir` when a SavedModel was written.
- `split` (Algorithm 2, --meta_set=pseudo_clean): `{net1: {...}, net2: {...}}`, the
  statistics of the last split made by each network's GMM (cotrain/divide.statistics:
  labeled/unlabeled/meta sizes, guard flags, GMM means and, where the true labels are
  known, the labeled and meta sets' precision and recall as clean detectors and the AUC
  of the clean probability); absent for one-network runs. `tests` then holds the
  ensemble (the mean of the two networks' logits).

The file is written atomically (a temporary file renamed), so a killed process never
leaves half a file. Importing this module does not import TensorFlow.
"""
import json
import os
import struct

FILENAME = "results.json"
FINISHED = "finished"
FAILED = "failed"


def _by_step(pairs):
    """{step: value}; a step written twice (re-run after a resume) keeps the last value."""
    return dict(pairs)


def _f32(x):
    return struct.unpack("f", struct.pack("f", x))[0]


def _best(logged, exact):
    """The larger of `exact` and the TensorBoard values `logged` (stored as float32): a
    logged value that is `exact` rounded to float32 counts as `exact`."""
    top = max(logged, default=None)
    return exact if top is None or _f32(exact) >= top else top


def _test_sets(final, scalars):
    """{SET: last and best top-1/top-5} of the main test set and every extra one."""
    sets = {"test": final}
    sets.update({k: v for k, v in final.items() if isinstance(v, dict) and "top1" in v})
    out = {}
    for name, last in sets.items():
        entry = {"last_top1": float(last["top1"]), "last_top5": float(last["top5"]),
                 "last_loss": float(last["loss"])}
        for k in ("top1", "top5"):
            exact = entry[f"last_{k}"]
            if name == "test" and k == "top1" and "best_top1" in final:
                exact = max(exact, float(final["best_top1"]))  # the checkpointed running best
            entry[f"best_{k}"] = _best(_by_step(scalars.get(f"{name}/{k}", [])).values(), exact)
        out[name] = entry
    return out


def _ms_per_step(scalars):
    """Step-weighted mean of `train/ms_per_step` (logged at the end of each call)."""
    calls = sorted(_by_step(scalars.get("train/ms_per_step", [])).items())
    total, steps, prev = 0.0, 0, 0
    for step, ms in calls:
        total += ms * (step - prev)
        steps += step - prev
        prev = step
    return total / steps if steps else None


def _weights(scalars):
    """Mean example weights of clean / noisy examples of the last epoch, or None."""
    out = {}
    for kind in ("clean", "noisy"):
        values = sorted(_by_step(scalars.get(f"weights/{kind}_mean", [])).items())
        if values:
            out[kind] = values[-1][1]
    return {"clean": out.get("clean"), "noisy": out.get("noisy")} if out else None


def build(model_dir, final, realised_noise_rate=None):
    """The results dict of the finished run in `model_dir`, from its `config.json`, its
    TensorBoard events and `final` (what `Trainer.run` returned)."""
    from famus_tf.train.summaries import read_scalars, read_spans
    with open(os.path.join(model_dir, "config.json")) as fh:
        config = json.load(fh)
    logdir = os.path.join(model_dir, "tensorboard")
    scalars = read_scalars(logdir)
    out = {"status": FINISHED, "config": config, "steps": int(final["steps"]),
           "tests": _test_sets(final, scalars),
           "wall_seconds": sum(last - first for first, last in read_spans(logdir)),
           "ms_per_step": _ms_per_step(scalars),
           "realised_noise_rate": None if realised_noise_rate is None else float(realised_noise_rate),
           "weights": _weights(scalars),
           "variables_sha1": final.get("variables_sha1")}
    if final.get("split"):
        out["split"] = final["split"]
    if final.get("export_dir"):
        out["export_dir"] = final["export_dir"]
    return out


def write(model_dir, results):
    """Writes `results` to MODEL_DIR/results.json atomically; returns the path."""
    path = os.path.join(model_dir, FILENAME)
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(results, fh, indent=2, sort_keys=True)
    os.replace(tmp, path)
    return path


def write_run(model_dir, final, realised_noise_rate=None):
    """`build` then `write`: what the driver calls for each run it finished."""
    return write(model_dir, build(model_dir, final, realised_noise_rate))


def write_failure(model_dir, exit_code, error):
    """Marks the run in `model_dir` as failed (its process exited with `exit_code`)."""
    os.makedirs(model_dir, exist_ok=True)
    return write(model_dir, {"status": FAILED, "exit_code": int(exit_code), "error": error})


def load(model_dir):
    """The results dict of `model_dir`, or None if there is none or it is unreadable."""
    try:
        with open(os.path.join(model_dir, FILENAME)) as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_finished(model_dir):
    data = load(model_dir)
    return bool(data) and data.get("status") == FINISHED
