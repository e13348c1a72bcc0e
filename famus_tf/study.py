"""Runs a grid of settings one after another on this machine, then prints the report.

    python -m famus_tf.study --flagfile=launch/quickstart.cfg \\
        --grid='method=plain,mwnet;noise_rate=0.2,0.4,0.6,0.8;famus=true,false' \\
        --seeds=0,1,2 --root=runs/study [any flag of famus_tf.main ...]

--grid: axes separated by ';', each FLAG=V1,V2,... (a flag of famus_tf.main) or
variant=NAME:FLAG=V,FLAG=V|NAME:... (named variants setting several flags at once).
Every combination of the axes is run with every seed of --seeds (as --seed) by
`python -m famus_tf.main` in a subprocess (the same interpreter), in its own model
directory ROOT/FLAG=V,FLAG=V/seed=S. Every flag that is not one of the study's own
(--flagfile included) is passed through to every run, before the grid's values, which
override it; so are the arguments after a bare `--`. Grid keys and values, and every
flag given, are checked before any run starts (one line, exit code 2).

Interrupted or re-run, a study resumes: a run whose results.json says finished is
skipped, any other run is started again and main resumes it from its latest checkpoint.
Each run's output is appended to MODEL_DIR/stdout.log and stderr.log and its command is
kept in MODEL_DIR/study.json. A run that fails is reported (exit code, last stderr
line; recorded as status "failed" in its results.json) and the study goes on. At the end
the report of ROOT is printed (famus_tf.report's table; --columns, --metrics, --csv).
Exit code 0 when every run finished, 1 otherwise.
"""
import json
import os
import subprocess
import sys
import time

from absl import app, flags

import flags as _famus_flags  # noqa: F401  (the driver's flags: --flagfile and the grid are checked)
from famus_tf import aggregate, cli, grid
from famus_tf.train import results as run_results

flags.DEFINE_string("grid", "", "Axes separated by ';': FLAG=V1,V2 or variant=NAME:FLAG=V,FLAG=V|NAME:...")
flags.DEFINE_list("seeds", ["0"], "Seeds of every grid point (passed as --seed).")
flags.DEFINE_string("root", "runs/study", "Directory of the study's runs.")
flags.DEFINE_list("columns", list(aggregate.DEFAULT_COLUMNS), "Report: configuration columns.")
flags.DEFINE_list("metrics", list(aggregate.DEFAULT_METRICS), "Report: metrics (mean ± std).")
flags.DEFINE_string("csv", None, "Report: also write the table as CSV to this path.")
flags.DEFINE_bool("dry_run", False, "Print each run's command and state; run nothing.")

FLAGS = flags.FLAGS
OWN = ("grid", "seeds", "root", "columns", "metrics", "csv", "dry_run")


def _error(message):
    cli.fail("famus_tf.study", message)


parse_flags = cli.flags_parser("famus_tf.study", doc=__doc__)


def command(run, passthrough):
    """The driver's command line of one planned run."""
    settings = [f"--{k}={v}" for k, v in run.settings]
    return [sys.executable, "-m", "famus_tf.main", *passthrough, *settings, f"--seed={run.seed}",
            f"--model_dir={run.model_dir}"]


def _last_line(path, offset):
    with open(path, errors="replace") as fh:
        fh.seek(offset)
        lines = [line.strip() for line in fh.read().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def execute(run, cmd):
    """Runs `cmd` with its output appended to the run's logs; (exit code, last stderr line)."""
    os.makedirs(run.model_dir, exist_ok=True)
    with open(os.path.join(run.model_dir, "study.json"), "w") as fh:
        json.dump({"settings": dict(run.settings), "seed": run.seed, "command": cmd[1:]}, fh, indent=2)
    err_path = os.path.join(run.model_dir, "stderr.log")
    offset = os.path.getsize(err_path) if os.path.exists(err_path) else 0
    with open(os.path.join(run.model_dir, "stdout.log"), "a") as out, open(err_path, "a") as err:
        code = subprocess.call(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
    return code, _last_line(err_path, offset)


def _recorded_command(run):
    try:
        with open(os.path.join(run.model_dir, "study.json")) as fh:
            return json.load(fh).get("command")
    except (OSError, ValueError):
        return None


def run_all(runs, passthrough, dry_run=False, log=print):
    """Runs every planned run not yet finished; returns [(run, exit code, error)] of failures."""
    failures = []
    for i, run in enumerate(runs, 1):
        cmd = command(run, passthrough)
        head = f"[{i}/{len(runs)}] {run.model_dir}"
        if run_results.is_finished(run.model_dir):
            note = "" if _recorded_command(run) in (None, cmd[1:]) else (
                " (its command differs from this study's: delete the directory to run it again)")
            log(f"{head}: finished, skipped{note}")
            continue
        if dry_run:
            log(f"{head}: would run: {' '.join(cmd)}")
            continue
        log(f"{head}: running")
        t0 = time.time()
        code, error = execute(run, cmd)
        if code == 0:
            res = run_results.load(run.model_dir) or {}
            top1 = res.get("tests", {}).get("test", {}).get("last_top1")
            log(f"{head}: finished in {time.time() - t0:.0f} s"
                + (f", test top-1 last {100 * top1:.2f}%" if top1 is not None else ""))
        else:
            run_results.write_failure(run.model_dir, code, error)
            failures.append((run, code, error))
            log(f"{head}: FAILED with exit code {code}: {error}")
    return failures


def _check_columns(columns):
    """Raises ValueError naming a --columns entry that is no configuration field."""
    from famus_tf import config as cfg
    from famus_tf.data.noise import NoiseConfig
    ref = json.loads(json.dumps(cfg.to_dict(cfg.RunConfig(), cfg.DataConfig(), NoiseConfig(),
                                            cfg.MetaConfig(), cfg.OptimConfig())))
    for c in columns:
        try:
            aggregate.resolve_field(c, ref)
        except ValueError as e:
            raise ValueError(f"--columns: {e}")


def main(argv):
    try:
        axes = grid.parse(FLAGS.grid)
        grid.validate(axes, FLAGS)
        try:
            seeds = [int(s) for s in FLAGS.seeds]
        except ValueError:
            raise ValueError(f"--seeds: expected comma-separated integers, got {','.join(FLAGS.seeds)!r}")
        _, passthrough = grid.split_argv(sys.argv, OWN, own_bools=("dry_run",))
        _check_columns(FLAGS.columns)
        problem = None if FLAGS.dry_run else (cli.unwritable_dir(FLAGS.root, "--root")
                                               or cli.unwritable_file(FLAGS.csv, "--csv"))
        if problem:
            raise ValueError(problem)
    except ValueError as e:
        _error(e)
    runs = grid.plan(axes, seeds, FLAGS.root)
    print(f"study: {len(runs)} runs under {FLAGS.root}", flush=True)
    t0 = time.time()
    try:
        failures = run_all(runs, passthrough, FLAGS.dry_run, log=lambda s: print(s, flush=True))
    except KeyboardInterrupt:
        print("study: interrupted; run the same command again to resume it")
        sys.exit(130)
    if FLAGS.dry_run:
        return
    print(f"study: {len(runs)} runs, {len(failures)} failed, in {time.time() - t0:.0f} s wall")
    for run, code, error in failures:
        print(f"failed: {run.model_dir}: exit code {code}: {error}")
    if any(os.path.isdir(r.model_dir) for r in runs):
        print()
        try:
            print(aggregate.report([FLAGS.root], FLAGS.columns, FLAGS.metrics, csv_path=FLAGS.csv))
        except ValueError as e:
            _error(f"report: {e}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
