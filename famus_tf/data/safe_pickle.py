"""Reading the pickled CIFAR python batches without letting a file run code.

`pickle.load` calls whatever callable a pickle names, so a crafted `data_batch_1`
could run anything. The released batches hold only a dict of bytes keys, lists,
bytes, ints and numpy uint8 arrays; `load` unpickles with an Unpickler whose
`find_class` admits only the numpy names an array needs (the array reconstructor,
`ndarray`, `dtype`, a numpy scalar; `_codecs.encode` for bytes) and refuses every
other global. Every failure
(refused global, truncated, empty or garbage file) is a ValueError of one line naming
the file.
"""
import pickle

# The globals a pickled numpy array refers to (numpy 1.x and 2.x module names), and
# `_codecs.encode`, which protocol-2 pickles written by Python 3 use to rebuild bytes.
_ALLOWED = {(m, n) for m in ("numpy.core.multiarray", "numpy._core.multiarray")
            for n in ("_reconstruct", "scalar")} | {("numpy", "ndarray"), ("numpy", "dtype"),
                                                    ("_codecs", "encode")}


class _Restricted(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused: the pickle names {module}.{name}, which a data "
                                     "file never holds (only dicts, lists, bytes, numbers and "
                                     "numpy arrays are read)")


def load(path, encoding="bytes"):
    """The object pickled in `path`, restricted to plain data and numpy arrays."""
    try:
        with open(path, "rb") as fh:
            return _Restricted(fh, encoding=encoding).load()
    except EOFError:
        raise ValueError(f"{path}: truncated or empty pickle (re-extract the archive)") from None
    except pickle.UnpicklingError as e:
        raise ValueError(f"{path}: {e}") from None
    except (OSError, MemoryError) as e:
        raise ValueError(f"{path}: cannot read: {e}") from None
    except Exception as e:  # noqa: BLE001 -- a garbage file fails in many ways inside pickle
        raise ValueError(f"{path}: not a readable pickle ({type(e).__name__}: "
                         f"{str(e).splitlines()[0] if str(e) else ''})") from None
