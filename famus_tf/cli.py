"""What every `python -m famus_tf.*` entry point shares: a known error ends in one line
`PROG: error: MESSAGE` and a documented exit code, and absl parsing turns a bad flag
or flagfile into such a line.

Exit codes: 2 bad input, found before any work; 1 a fault during the run; 3 a worker
of a multi-worker cluster was lost.
"""
import os
import sys

from absl import app, flags, logging

BAD_INPUT, FAULT, LOST_WORKER = 2, 1, 3


def fail(prog, message, code=BAD_INPUT):
    """Stops the program with one line naming what is wrong."""
    sys.stderr.write(f"{prog}: error: {message}\n")
    sys.exit(code)


OWN_MODULES = ("flags", "famus_tf", "__main__")  # where the project's flags are defined
HELP_ARGS = ("--help", "-help", "-h", "--helpshort", "-helpshort", "-?")


def run_and_exit(main, flags_parser):
    """`absl.app.run(main)` for a `python -m` entry point, then the process ends without
    tearing TensorFlow down: deleting a long-lived autotuned tf.data iterator waits for its
    model thread (up to a minute on TF 2.21, measured 20 s after a 4-epoch digits run),
    and everything the run writes is closed and flushed before `main` returns."""
    try:
        app.run(main, flags_parser=flags_parser)
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if not isinstance(e.code, (int, type(None))):
            print(e.code, file=sys.stderr)
    logging.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def unwritable_dir(directory, flag):
    """None if `directory` is (or can be made) a writable directory, else the one-line
    problem naming `flag`: a file, under a file, on a read-only file system or without
    permission (checked without writing anything)."""
    path = os.path.abspath(directory)
    if os.path.exists(path) and not os.path.isdir(path):
        return f"{flag}: {directory} is a file, not a directory"
    parent = path
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        return f"{flag}: {directory} cannot be created: {parent} is a file"
    if not os.access(parent, os.W_OK | os.X_OK):
        return (f"{flag}: {parent} is not writable (read-only file system or permissions); "
                f"choose another {flag}")
    return None


def unwritable_file(path, flag):
    """None if `path` (if given) can be written as a file in an existing writable
    directory, else the one-line problem naming `flag`."""
    if not path:
        return None
    if os.path.isdir(path):
        return f"{flag}: {path} is a directory"
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        return f"{flag}: {parent} is not a directory"
    return unwritable_dir(parent, flag)


def _shown(value):
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value)) or "(empty)"
    return str(value)


def help_text(doc, flag_values, note=""):
    """The program's docstring, then its own flags grouped by the module that defines
    them (the group's title is the module docstring's first line), each with the value
    the command line would run with; absl's own flags are left to --helpfull."""
    lines = [doc.strip(), "", "Flags" + (f" ({note})" if note else "") + ":"]
    for module, module_flags in flag_values.flags_by_module_dict().items():
        main = module == sys.argv[0]  # absl names the __main__ module by its file
        if not (main or module.startswith(OWN_MODULES)):  # absl's, TensorFlow's: --helpfull
            continue
        mod = sys.modules.get("__main__" if main else module)
        title = ((getattr(mod, "__doc__", None) or module).strip().splitlines() or [module])[0]
        lines += ["", f"{title}  [{module}]"]
        for name in sorted({f.name for f in module_flags}):
            f = flag_values[name]
            lines.append(f"  --{name}: {f.help}")
            lines.append(f"      (default: {_shown(f.value)})")
    lines += ["", "absl's and TensorFlow's flags (logging, flagfiles, ...): --helpfull"]
    return "\n".join(lines)


def _binary_flagfile(argv):
    """The first --flagfile of `argv` that is not UTF-8 text (None if none is)."""
    for arg in argv:
        if arg.lstrip("-").startswith("flagfile="):
            path = arg.split("=", 1)[1]
            try:
                with open(path, encoding="utf-8") as fh:
                    fh.read()
            except UnicodeDecodeError:
                return path
            except OSError:
                continue
    return None


def flags_parser(prog, flag_values=flags.FLAGS, prepare=None, doc="", note=""):
    """An absl `flags_parser` for `app.run`: parses argv (after `prepare(argv)`, if
    given) into `flag_values`; a bad flag or flagfile is `fail`ed with exit code 2.
    --help / -h prints `help_text` (the other arguments parsed first, so the defaults
    shown are the values this command line runs with) and exits 0."""
    def parse(argv):
        if prepare is not None:
            argv = prepare(argv)
        asked = any(a in HELP_ARGS for a in argv[1:])
        argv = [a for a in argv if a not in HELP_ARGS]
        try:
            rest = flag_values(argv)
        except flags.Error as e:
            fail(prog, e)
        except UnicodeDecodeError as e:  # absl reads flagfiles as text
            fail(prog, f"--flagfile: {_binary_flagfile(argv) or 'a flagfile'}: not UTF-8 text "
                       f"({e.reason}); a flagfile holds one --flag=value per line")
        if asked:
            print(help_text(doc or prog, flag_values, note))
            sys.exit(0)
        return rest
    return parse
