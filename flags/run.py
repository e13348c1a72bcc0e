"""Run flags: output, length, seeds, compilation, checkpoints, export."""
from absl import flags

flags.DEFINE_string("model_dir", "runs/quickstart", "Checkpoints, TensorBoard logs, export.")
flags.DEFINE_integer("epochs", 30, "Training epochs.", lower_bound=0)
flags.DEFINE_integer("max_steps", 0, "Stop after this many steps, for schedules given in "
                     "iterations (0: run --epochs).", lower_bound=0)
flags.DEFINE_integer("steps_per_call", 10, "Training steps per compiled call.", lower_bound=1)
flags.DEFINE_integer("seed", 0, "Seed of initialisation and data order.")
flags.DEFINE_bool("xla", False, "Compile the step with XLA (jit_compile).")
flags.DEFINE_integer("checkpoint_every", 200, "Steps between checkpoints.", lower_bound=1)
flags.DEFINE_integer("keep_checkpoints", 3, "Checkpoints kept.", lower_bound=1)
flags.DEFINE_bool("export", True, "Export a SavedModel at the end of training.")
flags.DEFINE_bool("export_only", False, "Export the latest checkpoint's network and exit.")
flags.DEFINE_bool("profile_split", True, "Once per epoch, time the virtual, meta and actual "
                  "parts of a step on a fixed batch (TensorBoard time/*).")
flags.DEFINE_bool("compare_baseline", False, "Also train plain cross-entropy on the same noisy "
                  "labels and print both test accuracies.")
