"""Load a CIFAR-10 batches folder (the "python" or the "binary" version).

Python version (Krizhevsky, 2009; https://www.cs.toronto.edu/~kriz/cifar.html):
files ``data_batch_1`` … ``data_batch_5``, ``test_batch`` and ``batches.meta``,
each a pickled dict (bytes keys) with ``data`` — N × 3072 uint8, the R, G and B
planes of a 32×32 image one after another — and ``labels`` (N ints);
``batches.meta`` holds ``label_names``. They are read with
:class:`~warmstart.tasks.loaders._restricted_pickle.RestrictedUnpickler`, which
refuses any global but numpy's array reconstructors.

Binary version: ``data_batch_1.bin`` … ``data_batch_5.bin``, ``test_batch.bin``
and ``batches.meta.txt`` (one class name per line); each file is a sequence of
3073-byte records, 1 label byte then the 3072 pixel bytes. Nothing is unpickled.

Any subset of the data batches may be present. The test batch becomes the test
split and 10 % of the data batches (stratified) the validation split; without
a test batch the data batches are split 70/10/20. Class names come from the
meta file, else ``"0"`` … ``"9"``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from warmstart.errors import DataError
from warmstart.tasks._task import Task
from warmstart.tasks.loaders._build import ArrayData, build_task, int_labels
from warmstart.tasks.loaders._restricted_pickle import load_restricted

OPTIONS: dict[str, Any] = {"seed": 0}
PIXELS = 3 * 32 * 32
RECORD = 1 + PIXELS
_DATA = re.compile(r"^data_batch_(\d+)(\.bin)?$")
_MARKERS = ("test_batch", "test_batch.bin", "batches.meta", "batches.meta.txt")


def is_cifar_dir(path: Path) -> bool:
    """Whether ``path`` is a folder with CIFAR-10 batch files (python or binary)."""
    if not path.is_dir():
        return False
    return any(p.is_file() and (_DATA.match(p.name) or p.name in _MARKERS) for p in path.iterdir())


def _data_batches(path: Path, binary: bool) -> list[Path]:
    found = [(int(m.group(1)), p) for p in path.iterdir()
             if (m := _DATA.match(p.name)) and bool(m.group(2)) == binary and p.is_file()]
    return [p for _, p in sorted(found)]


def _get(d: dict[Any, Any], key: str) -> Any:
    return d[key.encode()] if key.encode() in d else d.get(key)


def _python_batch(path: Path, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    obj = load_restricted(path)
    if not isinstance(obj, dict):
        raise DataError(f"{path}: expected a pickled dict with 'data' and 'labels', got {type(obj).__name__}")
    data, labels = _get(obj, "data"), _get(obj, "labels")
    if data is None or labels is None:
        keys = sorted(k.decode() if isinstance(k, bytes) else str(k) for k in obj)
        raise DataError(f"{path}: missing 'data' or 'labels' (keys: {', '.join(keys)})")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
            or data.shape[1] != PIXELS:
        shape = getattr(data, "shape", None)
        raise DataError(
            f"{path}: 'data' must be an N x {PIXELS} uint8 array, got "
            f"{type(data).__name__} {getattr(data, 'dtype', '')} {shape}"
        )
    try:
        y = np.asarray(labels)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{path}: 'labels' is not a list of integers") from exc
    y = int_labels(y, f"{path}: labels", n_classes)
    if len(y) != len(data):
        raise DataError(f"{path}: {len(data)} images but {len(y)} labels")
    return data, y


def _binary_batch(path: Path, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    raw = path.read_bytes()
    if len(raw) == 0 or len(raw) % RECORD:
        raise DataError(
            f"{path}: truncated or not a CIFAR-10 binary batch: {len(raw)} bytes is not a positive "
            f"multiple of {RECORD} (1 label byte + {PIXELS} pixel bytes per record)"
        )
    records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, RECORD)
    y = int_labels(records[:, 0], f"{path}: labels", n_classes)
    return records[:, 1:], y


def _class_names(path: Path, binary: bool) -> list[str]:
    if not binary and (path / "batches.meta").is_file():
        meta = load_restricted(path / "batches.meta")
        names = _get(meta, "label_names") if isinstance(meta, dict) else None
        if not isinstance(names, (list, tuple)) or not names:
            raise DataError(f"{path / 'batches.meta'}: no 'label_names' list")
        return [n.decode() if isinstance(n, bytes) else str(n) for n in names]
    if (path / "batches.meta.txt").is_file():
        lines = (path / "batches.meta.txt").read_text(encoding="utf-8", errors="replace")
        names = [ln.strip() for ln in lines.splitlines() if ln.strip()]
        if names:
            return names
    return [str(i) for i in range(10)]


def load_cifar(path: Path, seed: int = 0) -> Task:
    """Load a CIFAR-10 batches folder as an image task (float32 N×3×32×32 in [0, 1]).

    Raises:
        DataError: no data batch, a pickle with a forbidden global (refused before
            anything runs), a truncated binary batch, malformed arrays or labels
            out of range (names the file and row).
    """
    binary = not _data_batches(path, binary=False) and bool(_data_batches(path, binary=True))
    files = _data_batches(path, binary)
    if not files:
        raise DataError(
            f"{path}: no CIFAR-10 data batches (data_batch_1 ... data_batch_5, or data_batch_N.bin)"
        )
    classes = _class_names(path, binary)
    read = _binary_batch if binary else _python_batch
    batches = [read(f, len(classes)) for f in files]
    x = np.concatenate([b[0] for b in batches]).reshape(-1, 3, 32, 32)
    y = np.concatenate([b[1] for b in batches])
    del batches  # the concatenated copy is all that is needed from here
    test_file = path / ("test_batch.bin" if binary else "test_batch")
    x_test = y_test = None
    if test_file.is_file():
        xt, y_test = read(test_file, len(classes))
        x_test = xt.reshape(-1, 3, 32, 32)
    data = ArrayData(
        name=path.name, x=x, y=y, classes=classes, modality="image", x_test=x_test, y_test=y_test,
        provenance={
            "source": str(path),
            "format": "cifar10 binary batches" if binary else "cifar10 python batches",
            "batches": [f.name for f in files] + ([test_file.name] if x_test is not None else []),
        },
    )
    return build_task(data, seed=seed)
