"""Restricted unpickling: only numpy arrays, dtypes and plain containers; any other global is refused."""

from __future__ import annotations

import io
import pickle
import struct
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np

from unshuffle.errors import DataFormatError, UnsafeFileError

# numpy moved its internals from numpy.core to numpy._core in 2.0; pickles name either one.
_np_core = getattr(np, "_core", None) or np.core
_NUMPY_MODULES = ("numpy.core.multiarray", "numpy._core.multiarray")
_NUMERIC_MODULES = ("numpy.core.numeric", "numpy._core.numeric")


def _latin1_encode(where: str) -> Callable[..., bytes]:
    """``_codecs.encode`` as Python 3 protocol-2 pickles use it for bytes, limited to latin-1."""

    def encode(obj: str, encoding: str = "utf-8") -> bytes:
        if encoding.lower().replace("_", "-") not in ("latin1", "latin-1", "iso-8859-1"):
            raise UnsafeFileError(where, f"pickle calls _codecs.encode with codec {encoding!r}; only latin1 is allowed")
        return obj.encode("latin1")

    return encode


def _empty_bytes(where: str) -> Callable[..., bytes]:
    """``builtins.bytes`` as protocol-2 pickles use it: ``bytes()`` for an empty bytes object (an
    empty numpy array's buffer). Arguments are refused: ``bytes(10**12)`` would be a memory bomb."""

    def empty(*args: Any) -> bytes:
        if args:
            raise UnsafeFileError(where, "pickle calls builtins.bytes with arguments; only bytes() is allowed")
        return b""

    return empty


def _allowed() -> dict[tuple[str, str], Any]:
    """The explicit allowlist: (module, name) -> the object the unpickler may use."""
    table: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
        ("builtins", "complex"): complex,
        ("builtins", "bytearray"): bytearray,
    }
    for mod in _NUMPY_MODULES:
        table[(mod, "_reconstruct")] = _np_core.multiarray._reconstruct
        table[(mod, "scalar")] = _np_core.multiarray.scalar
    for mod in _NUMERIC_MODULES:  # protocol-5 pickles of contiguous arrays
        table[(mod, "_frombuffer")] = _np_core.numeric._frombuffer
    return table


_ALLOWED = _allowed()
_PY2_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg"}

# what a damaged pickle stream can raise inside the unpickler
# (SystemError: numpy's dtype.__setstate__ raises it for a malformed byte-order string; found by the fuzz suite)
_CORRUPT = (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, KeyError,
            AttributeError, struct.error, OverflowError, SystemError)


class RestrictedUnpickler(pickle._Unpickler):
    """An unpickler whose ``find_class`` admits only the (module, name) pairs in the allowlist.

    Anything else (``os.system``, ``builtins.eval``, ``builtins.open``, arbitrary classes) raises
    :class:`UnsafeFileError` naming the file and the refused global before anything is called.
    It is the pure-Python unpickler, whose memo is a dict: the C one sizes its memo array by the
    largest LONG_BINPUT index, so a 4 KB pickle with one edited index made it allocate GBs (found by
    the fuzz suite). Batch files load as fast (their time goes into one large string).
    """

    def __init__(self, file: IO[bytes], where: str, *, encoding: str = "latin1"):
        super().__init__(file, encoding=encoding)
        self.where = where

    def find_class(self, module: str, name: str) -> Any:
        module = _PY2_MODULES.get(module, module)
        if (module, name) == ("_codecs", "encode"):
            return _latin1_encode(self.where)
        if (module, name) == ("builtins", "bytes"):
            return _empty_bytes(self.where)
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise UnsafeFileError(
                self.where, f"pickle refers to the global {module}.{name}, which is not on the allowlist "
                "(numpy arrays, dtypes and plain containers); refusing to load it"
            ) from None


def safe_load(file: IO[bytes], where: str | Path, *, encoding: str = "latin1") -> Any:
    """Unpickle one object from the binary stream ``file`` with :class:`RestrictedUnpickler`.

    ``encoding`` decodes Python 2 ``str`` objects: ``"latin1"`` (default, also correct for numpy
    arrays in Python 2 pickles) or ``"bytes"``. Damaged streams raise :class:`DataFormatError`.
    """
    where = str(where)
    try:
        return RestrictedUnpickler(file, where, encoding=encoding).load()
    except UnsafeFileError:
        raise
    except _CORRUPT as e:
        raise DataFormatError(where, f"truncated or corrupt pickle ({type(e).__name__}: {e})") from e
    except MemoryError as e:  # the unpickler allocates a declared length before reading it
        raise DataFormatError(where, "pickle declares an object larger than memory allows "
                                     "(a corrupt length field, or a batch too large for this machine)") from e


def safe_loads(data: bytes, where: str | Path, *, encoding: str = "latin1") -> Any:
    """:func:`safe_load` on bytes already in memory."""
    return safe_load(io.BytesIO(data), where, encoding=encoding)


def safe_load_path(path: Path, *, encoding: str = "latin1") -> Any:
    """:func:`safe_load` on a file on disk; a missing or unreadable file raises DataFormatError."""
    try:
        with open(path, "rb") as f:
            return safe_load(f, path, encoding=encoding)
    except OSError as e:
        raise DataFormatError(path, f"cannot read the file ({e.strerror or e})") from e
