"""Run flags: output, length, seeds, compilation, checkpoints, export."""
from absl import flags

from famus_tf import models
from famus_tf.config import RunConfig
from famus_tf.meta.precision import PRECISIONS
from flags.fill import fill, ints

D = RunConfig()


def define(fv):
    flags.DEFINE_string("model_dir", D.model_dir, "Checkpoints, TensorBoard logs, export.",
                        flag_values=fv)
    flags.DEFINE_integer("epochs", D.epochs, "Training epochs. With --meta_set=pseudo_clean: the "
                         "co-training epochs after the --warmup_epochs (W + epochs in all, as the "
                         "official script counts them).", lower_bound=0, flag_values=fv)
    flags.DEFINE_integer("max_steps", D.max_steps, "Stop after this many steps, for schedules given "
                         "in iterations (0: run --epochs).", lower_bound=0, flag_values=fv)
    flags.DEFINE_integer("steps_per_call", D.steps_per_call, "Training steps per compiled call.",
                         lower_bound=1, flag_values=fv)
    flags.DEFINE_integer("seed", D.seed, "Seed of initialisation and data order.", flag_values=fv)
    flags.DEFINE_bool("xla", D.xla, "Compile the step with XLA (jit_compile).", flag_values=fv)
    flags.DEFINE_enum("precision", D.precision, list(PRECISIONS), "The base network's forward "
                      "and backward passes: float32, or 16 bits under the Keras mixed policy "
                      "(variables, meta model, samplers, losses and meta-gradient stay float32; "
                      "mixed_float16 adds dynamic loss scaling and is for GPUs; mixed_bfloat16 "
                      "needs CPUs with bfloat16 instructions or GPUs/TPUs to be faster); "
                      "see famus_tf/meta/precision.py.", flag_values=fv)
    flags.DEFINE_integer("checkpoint_every", D.checkpoint_every, "Steps between checkpoints.",
                         lower_bound=1, flag_values=fv)
    flags.DEFINE_integer("keep_checkpoints", D.keep_checkpoints, "Checkpoints kept.", lower_bound=1,
                         flag_values=fv)
    flags.DEFINE_bool("export", D.export, "Export a SavedModel at the end of training.",
                      flag_values=fv)
    flags.DEFINE_bool("export_only", D.export_only, "Export the latest checkpoint's network and "
                      "exit.", flag_values=fv)
    flags.DEFINE_bool("profile_split", D.profile_split, "Once per epoch, time the virtual, meta and "
                      "actual parts of a step on a fixed batch (TensorBoard time/*).", flag_values=fv)
    flags.DEFINE_float("log_every_secs", D.log_every_secs, "Without a terminal (nohup, cluster "
                       "logs): a progress line this often (epoch, step, steps/s, metrics, ETA of "
                       "the epoch and of the run); on a terminal the Keras progress bar.",
                       lower_bound=0.0, flag_values=fv)
    flags.DEFINE_enum("on_nonfinite", D.on_nonfinite, ["stop", "skip"], "A non-finite training "
                      "loss, meta-gradient or sampler loss at a step (checked every step in the "
                      "compiled loop): stop = end the run before saving it (exit code 1; the "
                      "checkpoints on disk stay the good ones, the same command resumes); skip = "
                      "leave that update out and count it (TensorBoard train/nonfinite_skipped).",
                      flag_values=fv)
    flags.DEFINE_bool("compare_baseline", D.compare_baseline, "Also train plain cross-entropy on "
                      "the same noisy labels and print both test accuracies.", flag_values=fv)


def config(fv):
    """The RunConfig (from the run, model, distribute and lr_epochs flags; --model=auto
    resolved, models.resolve)."""
    return fill(RunConfig, fv, lr_epochs=ints("lr_epochs", fv.lr_epochs), devices=tuple(fv.devices),
                model=models.resolve(fv.model, fv.weights_path))
