"""absl flag definitions of famus_tf.main, grouped by concern (one module a group).

Each group module has `define(flag_values)`, which defines its flags with the
defaults of the dataclasses in famus_tf/config.py (the one source of defaults) and
registers the format checks of their owners (a bad value: one message at parsing),
and, where the group owns a config, `config(flag_values)`, which turns parsed flags
into it. Importing this package defines every group on absl's global FLAGS; the
data commands define the same groups on their own FlagValues (`famus_tf.data.check`:
data; `famus_tf.data.convert`: data and noise).
"""
from absl import flags as _absl_flags

from flags import cotrain, data, distribute, famus, loss, method, model, noise, optim, run

GROUPS = (model, data, distribute, method, loss, famus, noise, optim, run, cotrain)


def define_all(flag_values):
    for group in GROUPS:
        group.define(flag_values)


define_all(_absl_flags.FLAGS)
