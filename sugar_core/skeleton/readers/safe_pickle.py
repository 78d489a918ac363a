"""Loading a pickle from someone else without running its code or letting it claim all memory.

An unpickler calls whatever callables the stream names, with arguments of the stream's choice.
``SafeUnpickler`` admits only what numpy arrays, numpy scalars and plain Python data need, and
each admitted callable only in the form numpy's and Python's own pickles use it:

- no ``eval``, ``getattr``, ``__import__`` or any class outside the list: those run code;
- no ``range`` or ``bytearray``, ``bytes`` only from data, and no ``str``: a few bytes of
  stream could ask for gigabytes (``bytearray(40_000_000_000)``, ``list(range(10**10))``) or
  expand repeated references into a huge text;
- arrays rebuilt only from the empty array numpy's pickles start from (another shape would
  allocate before the data is checked), never called as ``ndarray(shape)``, and without
  object dtypes (whose state allocates one pointer per declared element before any check).

Whatever is built then comes from bytes that are in the stream, up to the size of a pointer per
repeated reference; readers bound what they derive from it (``common.memory_budget``).
"""

from __future__ import annotations

import builtins
import codecs
import pickle
from pathlib import Path

import numpy as np

from sugar_core.errors import InputFormatError

try:  # numpy 2 moved its internals to numpy._core; pickles name either
    from numpy._core.multiarray import _reconstruct, scalar
    from numpy._core.numeric import _frombuffer
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct, scalar
    from numpy.core.numeric import _frombuffer


class _NdarrayName:
    """What the stream gets for ``numpy.ndarray``: a name ``_reconstruct`` accepts, not a class
    the stream could call to allocate an array of any shape."""


_NDARRAY = _NdarrayName()


def _empty_array(subtype, shape, dtype):
    if subtype is not _NDARRAY or tuple(shape) != (0,):
        raise pickle.UnpicklingError("an array rebuilt from anything but numpy's empty start")
    return _reconstruct(np.ndarray, (0,), dtype)


def _dtype(*args):
    dtype = np.dtype(*args)
    if dtype.hasobject:
        raise pickle.UnpicklingError("an array of Python objects (dtype object)")
    return dtype


def _bytes(*args):
    if args and not isinstance(args[0], (str, list, tuple)):
        raise pickle.UnpicklingError(f"bytes({type(args[0]).__name__}) (only bytes from data)")
    return bytes(*args)


def _latin1(text, encoding: str = "utf-8", errors: str = "strict"):
    if codecs.lookup(encoding).name != "iso8859-1":
        raise pickle.UnpicklingError(f"_codecs.encode with {encoding!r} (pickles use latin1)")
    return codecs.encode(text, encoding, errors)


_ALLOWED = {
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _dtype,
    ("_codecs", "encode"): _latin1,  # protocol-2 pickles rebuild byte strings with it
    ("builtins", "bytes"): _bytes,  # protocol 0-2 write b"" as bytes()
}
for _module in ("numpy.core", "numpy._core"):
    _ALLOWED[(f"{_module}.multiarray", "_reconstruct")] = _empty_array
    _ALLOWED[(f"{_module}.multiarray", "scalar")] = scalar
    _ALLOWED[(f"{_module}.numeric", "_frombuffer")] = _frombuffer
# data types whose constructors only rearrange what the stream holds
for _name in ("set", "frozenset", "complex", "slice", "int", "float", "bool", "list", "dict",
              "tuple"):  # fmt: skip
    _ALLOWED[("builtins", _name)] = getattr(builtins, _name)


class SafeUnpickler(pickle.Unpickler):
    """An Unpickler that admits numpy arrays / scalars and builtin data types, nothing else."""

    def __init__(self, fh, path: str | Path):
        super().__init__(fh)
        self.path = path

    def find_class(self, module: str, name: str):
        if module == "__builtin__":  # protocol 0-2 pickles written by Python 2
            module = "builtins"
        found = _ALLOWED.get((module, name))
        if found is not None:
            return found
        raise InputFormatError(
            self.path,
            f"refusing to unpickle {module}.{name}: only numpy arrays and plain "
            "Python data are allowed (loading other classes can run code)",
        )


# what a damaged or hostile stream raises inside the unpickler (a memo index past its end,
# a call with the wrong arguments, a structure nested past the recursion limit, ...)
_BROKEN = (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, KeyError,
           AttributeError, OverflowError, RecursionError, MemoryError, LookupError)  # fmt: skip


def load_pickle(path: str | Path):
    """The object in the pickle file ``path``; InputFormatError naming the file when it cannot
    be read, is damaged, or asks for anything ``SafeUnpickler`` refuses."""
    try:
        with open(path, "rb") as fh:
            return SafeUnpickler(fh, path).load()
    except InputFormatError:
        raise
    except OSError as exc:
        raise InputFormatError(path, f"cannot read ({exc.strerror})") from None
    except _BROKEN as exc:
        raise InputFormatError(
            path, f"not a readable pickle ({exc.__class__.__name__}: {str(exc)[:60]})"
        ) from None
