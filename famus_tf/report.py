"""Mean ± std over seeds of finished runs, as a markdown table (and CSV).

    python -m famus_tf.report RUN_DIR_OR_GLOB... [--columns=...] [--metrics=...] [--csv=PATH]

Each argument is a run directory (it holds config.json), a directory holding runs
at any depth (a study's root), or a glob pattern of either. Runs that differ only in
their seed (--seed_fields) are one row; a cell is mean ± sample std (ddof=1) with the
number of seeds; accuracies are in percent. Unfinished, killed and failed runs are
listed below the table, never averaged. Columns are configuration fields named as
flags (dataset, noise_rate, method, famus, lr, ...) or Group.field (OptimConfig.lr);
any other field that differs between rows is added. Metrics are dotted paths into
results.json; SET.STAT is short for tests.SET.STAT (test.last_top1,
imagenet_val.best_top5, steps, ms_per_step, weights.noisy, realised_noise_rate).
docs/results.md describes the fields. A path that is not a run and holds none, or an
unknown column or metric: one line on stderr, exit code 2.
"""

from absl import app, flags

from famus_tf import aggregate, cli

flags.DEFINE_list("columns", list(aggregate.DEFAULT_COLUMNS), "Configuration fields shown as "
                  "columns (flag names or Group.field); fields that differ between rows are added.")
flags.DEFINE_list("metrics", list(aggregate.DEFAULT_METRICS), "Metrics (dotted paths into "
                  "results.json; SET.STAT = tests.SET.STAT) shown as mean ± std.")
flags.DEFINE_list("seed_fields", list(aggregate.DEFAULT_SEED_FIELDS), "Configuration fields "
                  "that make repetitions of one configuration (averaged over).")
flags.DEFINE_string("csv", None, "Also write the table as CSV to this path.")

FLAGS = flags.FLAGS


def _error(message):
    cli.fail("famus_tf.report", message)


parse_flags = cli.flags_parser("famus_tf.report", doc=__doc__)


def main(argv):
    if len(argv) < 2:
        _error("give at least one run directory or pattern")
    if cli.unwritable_file(FLAGS.csv, "--csv"):
        _error(cli.unwritable_file(FLAGS.csv, "--csv"))
    try:
        text = aggregate.report(argv[1:], FLAGS.columns, FLAGS.metrics, FLAGS.seed_fields, FLAGS.csv)
    except (ValueError, OSError) as e:
        _error(e)
    print(text)


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
