"""A grid of settings: parsing `--grid`, checking it against the driver's flags, and
naming each run's directory.

Grammar: axes separated by ';'; each axis is `FLAG=V1,V2,...` (one flag, several
values) or `variant=NAME:FLAG=V,FLAG=V|NAME:FLAG=V,...` (named variants, each setting
several flags at once). The runs are the Cartesian product of the axes times the seeds,
e.g. 'method=plain,mwnet;noise_rate=0.4,0.6' is four configurations.

A run's directory is ROOT/LABEL,LABEL,.../seed=S with LABEL = FLAG=VALUE (or
variant=NAME), each value percent-encoded so that any value gives one safe path
component ('/' becomes %2F); a name longer than 200 characters is shortened and ends
in a hash of the full name.
"""
import dataclasses
import hashlib
import itertools
import os
from urllib.parse import quote

# Flags the study sets itself, or that cannot vary inside one study.
RESERVED = {"model_dir": "the study names each run's directory under --root",
            "seed": "give the seeds with --seeds", "flagfile": "pass --flagfile to the study itself"}


@dataclasses.dataclass(frozen=True)
class Point:
    """One grid point: its label (the directory name) and the flags it sets."""
    label: str
    settings: tuple              # ((flag, value), ...)


@dataclasses.dataclass(frozen=True)
class PlannedRun:
    model_dir: str
    settings: tuple
    seed: int


def _pair(text, where):
    key, eq, value = text.partition("=")
    if not eq or not key.strip():
        raise ValueError(f"--grid: expected FLAG=VALUE in {where!r}, got {text!r}")
    return key.strip(), value.strip()


def _safe(value):
    return quote(value, safe="")


def _variants(text):
    points = []
    for part in filter(None, (p.strip() for p in text.split("|"))):
        name, colon, body = part.partition(":")
        if not colon or not name.strip():
            raise ValueError(f"--grid: a variant is NAME:FLAG=V,FLAG=V, got {part!r}")
        settings = tuple(_pair(p, part) for p in body.split(",") if p.strip())
        points.append(Point(f"variant={_safe(name.strip())}", settings))
    return points


def parse(text):
    """[[Point]] of the axes of `text` (empty text: one axis with one empty point)."""
    axes = []
    for axis in filter(None, (a.strip() for a in (text or "").split(";"))):
        key, value = _pair(axis, axis)
        if key == "variant":
            points = _variants(value)
        else:
            values = [v.strip() for v in value.split(",") if v.strip()]
            points = [Point(f"{key}={_safe(v)}", ((key, v),)) for v in values]
        if not points:
            raise ValueError(f"--grid: no values in {axis!r}")
        axes.append(points)
    return axes or [[Point("", ())]]


def validate(axes, flag_values):
    """Raises ValueError naming the first unknown, reserved or repeated flag, or a value
    the flag's own parser rejects. `flag_values`: absl FlagValues with the driver's flags."""
    owner = {}
    for i, axis in enumerate(axes):
        for point in axis:
            for key, value in point.settings:
                if key in RESERVED:
                    raise ValueError(f"--grid: {key} cannot be a grid key: {RESERVED[key]}")
                if key not in flag_values:
                    raise ValueError(f"--grid: unknown flag {key!r} (grid keys are flags of famus_tf.main)")
                if owner.setdefault(key, i) != i:
                    raise ValueError(f"--grid: {key} is set by two axes")
                try:
                    flag_values[key].parser.parse(value)
                except ValueError as e:
                    raise ValueError(f"--grid: {key}={value}: {e}")


def _dir_name(labels):
    name = ",".join(label for label in labels if label)
    if len(name) > 200:
        name = name[:180] + "-" + hashlib.sha1(name.encode()).hexdigest()[:12]
    return name


def plan(axes, seeds, root):
    """Every run of the grid, in order: the first axis varies slowest, seeds fastest."""
    runs = []
    for combo in itertools.product(*axes):
        settings = tuple(kv for point in combo for kv in point.settings)
        base = os.path.join(root, _dir_name([p.label for p in combo]))
        runs += [PlannedRun(os.path.join(base, f"seed={s}"), settings, s) for s in seeds]
    return runs


def split_argv(argv, own_flags, own_bools=()):
    """(own tokens, the others) of `argv[1:]`: the study's own flags are the names in
    `own_flags` (booleans, which take no separate value, in `own_bools`); every other
    token is passed to the runs. Raises ValueError for a token that is not a flag."""
    own, other = [], []
    tokens = list(argv[1:])
    while tokens:
        token = tokens.pop(0)
        if token == "--":
            other += tokens
            break
        if not token.startswith("-"):
            raise ValueError(f"unexpected argument {token!r}")
        name = token.lstrip("-").split("=", 1)[0]
        bare = name[2:] if name.startswith("no") and name[2:] in own_bools else name
        if bare not in own_flags:
            other.append(token)
            if "=" not in token and tokens and not tokens[0].startswith("-"):
                other.append(tokens.pop(0))  # --flag VALUE
            continue
        own.append(token)
        if "=" not in token and bare not in own_bools and tokens:
            own.append(tokens.pop(0))
    return own, other
