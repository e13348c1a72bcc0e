"""What every `python -m famus_tf.*` entry point shares: a known error ends in one line
`PROG: error: MESSAGE` and a documented exit code, and absl parsing turns a bad flag
or flagfile into such a line.

Exit codes: 2 bad input, found before any work; 1 a fault during the run; 3 a worker
of a multi-worker cluster was lost.
"""
import sys

from absl import flags

BAD_INPUT, FAULT, LOST_WORKER = 2, 1, 3


def fail(prog, message, code=BAD_INPUT):
    """Stops the program with one line naming what is wrong."""
    sys.stderr.write(f"{prog}: error: {message}\n")
    sys.exit(code)


def flags_parser(prog, flag_values=flags.FLAGS, prepare=None):
    """An absl `flags_parser` for `app.run`: parses argv (after `prepare(argv)`, if
    given) into `flag_values`; a bad flag or flagfile is `fail`ed with exit code 2."""
    def parse(argv):
        if prepare is not None:
            argv = prepare(argv)
        try:
            return flag_values(argv)
        except flags.Error as e:
            fail(prog, e)
    return parse
