"""Tables over seeds: find run directories, group the runs that differ only in their
seed, and give each metric's mean ± sample standard deviation per configuration.

A run directory is a directory holding `config.json` (written when a run starts) or
`results.json` (written when it ends, or by a study when its process failed; see
train/results.py). A run is *finished* when its `results.json` says so; every other run
(unfinished, killed, failed) is listed apart and never averaged.

Grouping. Two finished runs belong to one configuration when their `config.json`
agree in every field except
- the seed fields (default `seed` and `noise_seed`: the seed of initialisation and
  data order, copied into MetaConfig.seed, and the seed of the noise and the meta-set
  split), and
- the bookkeeping fields that do not change what is computed (`BOOKKEEPING`: where
  the run writes, how often it saves, how many steps one compiled call takes).
Runs of one configuration with the same seeds (a directory given twice, or the same
plain-CE baseline trained beside several meta runs) are counted once.

For n runs with values x_i a cell shows mean(x) ± s, s = sqrt(sum_i (x_i - mean)^2 / (n - 1))
(sample standard deviation, ddof = 1); one run shows its value alone. Accuracies
(metrics ending in top1 / top5) are shown in percent.

Names. A configuration field is named as its flag (`noise_rate`, `noise_seed`,
`seed`, `lr_steps`), by its field name when that is unique (`dataset`, `method`,
`famus`), or as `Group.field` (`OptimConfig.lr`). A metric is a dotted path into
`results.json` (`steps`, `weights.noisy`); `SET.STAT` is short for `tests.SET.STAT`
(`test.last_top1`, `imagenet_val.best_top5`).
"""
import csv
import dataclasses
import glob
import json
import os
import re
import statistics

from famus_tf.train import results as run_results

DEFAULT_COLUMNS = ("dataset", "noise_type", "noise_rate", "method", "famus")
DEFAULT_METRICS = ("test.last_top1", "test.best_top1")
DEFAULT_SEED_FIELDS = ("seed", "noise_seed")
BOOKKEEPING = {("RunConfig", k) for k in (
    "model_dir", "checkpoint_every", "keep_checkpoints", "export", "export_only", "steps_per_call",
    "profile_split", "compare_baseline")}
# Flag names whose configuration field is named otherwise.
ALIASES = {"seed": ("RunConfig", "seed"), "noise_rate": ("NoiseConfig", "rate"),
           "noise_seed": ("NoiseConfig", "seed"), "noise_transition": ("NoiseConfig", "transition"),
           "noise_file": ("NoiseConfig", "path"), "lr_steps": ("OptimConfig", "lr_boundaries")}
SKIP_DIRS = {"tensorboard", "export"}


@dataclasses.dataclass
class Run:
    path: str
    config: dict
    results: dict = None
    state: str = "unfinished"    # finished | failed | unfinished
    detail: str = ""


@dataclasses.dataclass
class Table:
    columns: list                # header names of the configuration columns
    metrics: list
    rows: list                   # [(column values, [Run], {metric: (mean, std, n)})]
    not_averaged: list           # one line each
    duplicates: list             # one line each


def _is_run(path):
    return any(os.path.isfile(os.path.join(path, f)) for f in ("config.json", run_results.FILENAME))


def find_run_dirs(paths):
    """Run directories under `paths` (directories or glob patterns), each once, sorted.
    Raises ValueError naming the first path that is not a run and holds none."""
    found = []
    for arg in paths:
        matches = sorted(glob.glob(arg)) if glob.has_magic(arg) else [arg]
        if not matches:
            raise ValueError(f"{arg}: matches nothing")
        for path in matches:
            if not os.path.isdir(path):
                raise ValueError(f"{path}: not a directory")
            runs = []
            for root, dirs, _ in os.walk(path):
                dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))
                if _is_run(root):
                    runs.append(os.path.normpath(root))
            if not runs:
                raise ValueError(f"{path}: not a run directory (no config.json or results.json) "
                                 "and holds none")
            found += runs
    seen = set()
    return [p for p in found if not (os.path.realpath(p) in seen or seen.add(os.path.realpath(p)))]


def _checkpoint_step(path):
    """The step of the newest checkpoint named in MODEL_DIR/checkpoint, or None."""
    try:
        with open(os.path.join(path, "checkpoint")) as fh:
            m = re.search(r'^model_checkpoint_path: ".*?(\d+)"', fh.read(), re.M)
    except OSError:
        return None
    return int(m.group(1)) if m else None


def load_run(path):
    """A Run with its configuration (a finished run's is the one in its results.json, the
    configuration it finished with), results and state."""
    config, notes = {}, []
    try:
        with open(os.path.join(path, "config.json")) as fh:
            config = json.load(fh)
    except FileNotFoundError:
        pass
    except (OSError, ValueError):
        notes.append("its config.json is unreadable")
    res = run_results.load(path)
    status = res.get("status") if res else None
    if status == run_results.FINISHED:
        return Run(path, res.get("config") or config, res, "finished")
    if status == run_results.FAILED:
        return Run(path, config, res, "failed", f"exit code {res.get('exit_code')}: {res.get('error')}")
    step = _checkpoint_step(path)
    notes.insert(0, "no checkpoint" if step is None else f"last checkpoint at step {step}")
    if os.path.exists(os.path.join(path, run_results.FILENAME)):
        notes.append("its results.json is unreadable or has no status")
    return Run(path, config, res, "unfinished", "; ".join(notes))


def resolve_field(name, config):
    """(group, field) of a configuration field given by flag name, unique field name
    or Group.field; raises ValueError naming it otherwise."""
    if name in ALIASES:
        return ALIASES[name]
    group, _, field = name.rpartition(".")
    if group:
        if field in config.get(group, {}):
            return group, field
        raise ValueError(f"no configuration field {name!r}")
    owners = [g for g, fields in config.items() if isinstance(fields, dict) and name in fields]
    if len(owners) == 1:
        return owners[0], name
    if owners:
        raise ValueError(f"{name!r} is ambiguous: use one of "
                         + ", ".join(f"{g}.{name}" for g in owners))
    raise ValueError(f"no configuration field {name!r}")


def field_name(key, config):
    """The shortest name `resolve_field` maps back to `key`."""
    for alias, target in ALIASES.items():
        if target == key:
            return alias
    try:
        return key[1] if resolve_field(key[1], config) == key else ".".join(key)
    except ValueError:
        return ".".join(key)


def seed_keys(seed_fields, config):
    keys = {resolve_field(n, config) for n in seed_fields}
    if ("RunConfig", "seed") in keys:
        keys.add(("MetaConfig", "seed"))  # a copy of the run's seed
    return keys


def _flat(config):
    return {(g, k): v for g, fields in config.items() if isinstance(fields, dict) for k, v in fields.items()}


def _hashable(value):
    return json.dumps(value, sort_keys=True)


def metric_value(results, name):
    """The number at dotted path `name` of `results` (SET.STAT: tests.SET.STAT), or None."""
    parts = name.split(".")
    node = results
    if parts[0] not in results and parts[0] in results.get("tests", {}):
        node = results["tests"]
    for p in parts:
        if not isinstance(node, dict) or p not in node:
            return None
        node = node[p]
    return float(node) if isinstance(node, (int, float)) and not isinstance(node, bool) else None


def is_accuracy(metric):
    return metric.endswith(("top1", "top5"))


def summarise(values):
    """(mean, sample std or None for one value, n) of the values that are not None."""
    values = [v for v in values if v is not None]
    if not values:
        return None, None, 0
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None), len(values)


def _groups(finished, seeds, skip):
    """{key: [Run]} of runs equal outside `skip`; of runs with equal `seeds` values in
    one group the first is kept, the others listed as duplicates."""
    groups, duplicates = {}, []
    for run in sorted(finished, key=lambda r: r.path):
        flat = _flat(run.config)
        key = _hashable(sorted((list(k), v) for k, v in flat.items() if k not in skip))
        groups.setdefault(key, []).append(run)
    for key, runs in groups.items():
        seen, kept = {}, []
        for run in runs:
            flat = _flat(run.config)
            ident = _hashable([flat.get(k) for k in sorted(seeds)])
            if ident in seen:
                duplicates.append(f"{run.path}: same configuration and seeds as {seen[ident]}, counted once")
            else:
                seen[ident] = run.path
                kept.append(run)
        groups[key] = kept
    return groups, duplicates


def _columns(groups, columns, skip, ref):
    """The requested column keys, plus every other field that differs between groups."""
    keys = [resolve_field(c, ref) for c in columns]
    for c, k in zip(columns, keys):
        if k in skip:
            raise ValueError(f"--columns: {c} is averaged over (a seed field) or bookkeeping; "
                             "it cannot be a column")
    reps = [_flat(runs[0].config) for runs in groups.values()]
    for k in sorted({k for r in reps for k in r}):
        if k not in skip and k not in keys and len({_hashable(r.get(k)) for r in reps}) > 1:
            keys.append(k)
    names = list(columns) + [field_name(k, ref) for k in keys[len(columns):]]
    return keys, names


def _sort_key(values):
    return [(0, v, "") if isinstance(v, (int, float)) else (1, 0, _hashable(v)) for v in values]


def build_table(runs, columns=DEFAULT_COLUMNS, metrics=DEFAULT_METRICS, seed_fields=DEFAULT_SEED_FIELDS):
    """A Table of the finished `runs` (one row per configuration) and the rest listed."""
    finished = [r for r in runs if r.state == "finished"]
    others = [f"{r.path}: {r.state} ({r.detail})" for r in runs if r.state != "finished"]
    if not finished:
        return Table(list(columns), list(metrics), [], others, [])
    ref = finished[0].config
    seeds = seed_keys(seed_fields, ref)
    skip = seeds | BOOKKEEPING
    groups, duplicates = _groups(finished, seeds, skip)
    keys, names = _columns(groups, columns, skip, ref)
    for m in metrics:
        if all(metric_value(r.results, m) is None for r in finished):
            raise ValueError(f"--metrics: no finished run has {m!r}")
    rows = []
    for group in groups.values():
        flat = _flat(group[0].config)
        cells = {m: summarise([metric_value(r.results, m) for r in group]) for m in metrics}
        rows.append(([flat.get(k) for k in keys], group, cells))
    rows.sort(key=lambda row: _sort_key(row[0]))
    return Table(names, list(metrics), rows, others, duplicates)


def _fmt_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, dict)):
        return json.dumps(v)
    return str(v)


def _scaled(metric, cell):
    mean, std, n = cell
    k = 100.0 if is_accuracy(metric) else 1.0
    return (None if mean is None else mean * k), (None if std is None else std * k), n


def _fmt_cell(metric, cell):
    mean, std, n = _scaled(metric, cell)
    if mean is None:
        return "-"
    digits = 2 if is_accuracy(metric) else 4
    text = f"{mean:.{digits}f}" if is_accuracy(metric) else f"{mean:.{digits}g}"
    if std is not None:
        text += f" ± {std:.{digits}f}" if is_accuracy(metric) else f" ± {std:.{digits}g}"
    return text


def _headers(table):
    return table.columns + ["seeds"] + [m + (" (%)" if is_accuracy(m) else "") for m in table.metrics]


def markdown(table):
    """The table in markdown, then the runs not averaged and the duplicates."""
    head = _headers(table)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for values, runs, cells in table.rows:
        lines.append("| " + " | ".join([_fmt_value(v) for v in values] + [str(len(runs))]
                                       + [_fmt_cell(m, cells[m]) for m in table.metrics]) + " |")
    if not table.rows:
        lines.append("(no finished runs)")
    if table.not_averaged:
        lines += ["", f"Not averaged ({len(table.not_averaged)}):"] + [f"- {x}" for x in table.not_averaged]
    if table.duplicates:
        lines += ["", "Counted once:"] + [f"- {x}" for x in table.duplicates]
    return "\n".join(lines)


def write_csv(table, path):
    """The table as CSV: the columns, `seeds`, then METRIC_mean and METRIC_std (same
    units as the markdown; std empty for one seed). Runs not averaged are left out."""
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(table.columns + ["seeds"] + [f"{m}_{s}" for m in table.metrics for s in ("mean", "std")])
        for values, runs, cells in table.rows:
            nums = []
            for m in table.metrics:
                mean, std, _ = _scaled(m, cells[m])
                nums += ["" if mean is None else repr(mean), "" if std is None else repr(std)]
            w.writerow([_fmt_value(v) for v in values] + [len(runs)] + nums)


def report(paths, columns=DEFAULT_COLUMNS, metrics=DEFAULT_METRICS, seed_fields=DEFAULT_SEED_FIELDS,
           csv_path=None):
    """Markdown of the runs under `paths` (and the CSV at `csv_path` if given);
    raises ValueError with a one-line message for a bad path, column or metric."""
    runs = [load_run(p) for p in find_run_dirs(paths)]
    table = build_table(runs, columns, metrics, seed_fields)
    if csv_path:
        write_csv(table, csv_path)
    return markdown(table)

