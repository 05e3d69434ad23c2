"""A restricted unpickler for CIFAR-10 "python batches" files.

A pickle can call any importable function while it loads (``os.system`` is the
classic example), so unpickling a file from the internet runs its author's
code. CIFAR-10 batches are pickled dicts of bytes, lists, ints and numpy
arrays; :class:`RestrictedUnpickler` resolves only the handful of globals such
a file needs (numpy's array and scalar reconstructors, ``numpy.ndarray``,
``numpy.dtype``, and ``_codecs.encode`` which Python 3 protocol-2 pickles use
for bytes) and refuses every other global *before* anything is called, with a
:class:`DataError` naming the file and the global (the approach of the
"Restricting Globals" section of the :mod:`pickle` documentation).
"""

from __future__ import annotations

import codecs
import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from warmstart.errors import DataError


def _allowed_globals() -> dict[tuple[str, str], Any]:
    # Take numpy's reconstructors from numpy itself, so both numpy 1 (numpy.core)
    # and numpy 2 (numpy._core) spellings map to the functions this numpy has,
    # without importing any module named inside the file.
    reconstruct = np.ndarray.__reduce__(np.zeros(1))[0]
    scalar = np.int64(0).__reduce__()[0]
    frombuffer = np.zeros(1).__reduce_ex__(5)[0]
    allowed: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): codecs.encode,
    }
    for core in ("numpy.core", "numpy._core"):
        allowed[(f"{core}.multiarray", "_reconstruct")] = reconstruct
        allowed[(f"{core}.multiarray", "scalar")] = scalar
        allowed[(f"{core}.numeric", "_frombuffer")] = frombuffer
    return allowed


ALLOWED_GLOBALS = _allowed_globals()


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only :data:`ALLOWED_GLOBALS` and refuses the rest.

    Args:
        file: Binary file object to read.
        source: Name of the file, for error messages.
    """

    def __init__(self, file: io.BufferedIOBase, source: str) -> None:
        super().__init__(file, encoding="bytes")
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        """Return an allowed global; raise DataError for anything else (never imports it)."""
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise DataError(
                f"{self.source}: refused to unpickle forbidden global '{module}.{name}'; a CIFAR "
                f"batch may only hold numpy arrays, lists, dicts, bytes and numbers"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        """Persistent ids never occur in CIFAR batches: refuse them."""
        raise DataError(f"{self.source}: refused to unpickle a persistent id")


def load_restricted(path: Path) -> Any:
    """Unpickle ``path`` with :class:`RestrictedUnpickler`.

    Raises:
        DataError: the file holds a forbidden global, or is not a readable pickle
            (truncated, corrupt).
    """
    try:
        with open(path, "rb") as fh:
            return RestrictedUnpickler(fh, str(path)).load()  # type: ignore[arg-type]
    except DataError:
        raise
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc})") from exc
    except Exception as exc:  # any malformed pickle: EOFError, UnpicklingError, ValueError ...
        raise DataError(f"{path}: not a readable pickle ({type(exc).__name__}: {exc})") from exc
