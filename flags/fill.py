"""A config dataclass filled from parsed flags of the same names."""
import dataclasses

from absl import flags


def fill(cls, flag_values, renames=None, **given):
    """`cls(...)`: each field from `given`, else from the flag of its name (or of
    `renames[field]`); a field that no flag sets keeps its dataclass default."""
    renames = renames or {}
    values = {}
    for field in dataclasses.fields(cls):
        flag = renames.get(field.name, field.name)
        if field.name in given:
            values[field.name] = given[field.name]
        elif flag in flag_values:
            values[field.name] = getattr(flag_values, flag)
    return cls(**values)


def check_with(flag_values, name, parse):
    """Registers `parse(value)` (raising ValueError) as the format check of flag `name`
    (absl's message names the flag and value already: a leading '--name: ' is dropped)."""
    def checker(value):
        try:
            parse(value)
        except ValueError as e:
            message = str(e)
            raise flags.ValidationError(message[len(f"--{name}: "):] if message.startswith(
                f"--{name}: ") else message)
        return True
    flags.register_validator(name, checker, flag_values=flag_values)


def ints(name, values):
    """Comma-separated integers of list flag `name`, as a tuple."""
    try:
        return tuple(int(v) for v in values)
    except ValueError:
        raise ValueError(f"--{name}: expected comma-separated integers, got {','.join(values)!r}")
