"""Load a task from a ``.npz`` archive with arrays ``X`` and ``y``.

Arrays:
    X: inputs. (N, D) → tabular (standardized with train-split statistics);
        (N, H, W), (N, H, W, C) or (N, C, H, W) with C in {1, 3} → images
        (uint8 0–255 is scaled to [0, 1]; float images must already be in [0, 1]).
    y: N labels, integers in ``[0, n_classes)`` or strings (mapped to sorted names).
    X_test, y_test: optional given test set (then 10 % of X becomes validation).
    X_unlabeled: optional unlabelled pool.
    classes: optional class names (a string array); integer labels index it.

The archive is opened with ``allow_pickle=False``: nothing is ever unpickled.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from warmstart.errors import DataError
from warmstart.tasks._task import Modality, Task
from warmstart.tasks.loaders._build import ArrayData, build_task, check_finite, int_labels

OPTIONS: dict[str, Any] = {"seed": 0}
KNOWN_ARRAYS = ("X", "y", "X_test", "y_test", "X_unlabeled", "classes")
CHANNELS = (1, 3)


def _read(path: Path) -> dict[str, np.ndarray]:
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"{path}: not a readable .npz archive ({exc})") from exc
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(f"{path}: is a single .npy array; expected an .npz archive with X and y")
    out: dict[str, np.ndarray] = {}
    with archive:
        for key in archive.files:
            if key not in KNOWN_ARRAYS:
                continue
            try:
                out[key] = archive[key]
            except ValueError as exc:  # object arrays need pickle
                raise DataError(
                    f"{path}: array {key!r} cannot be read without unpickling ({exc}); store "
                    f"numbers or strings (np.array(names, dtype=str)), not Python objects"
                ) from exc
            except (OSError, zipfile.BadZipFile, EOFError) as exc:
                raise DataError(f"{path}: array {key!r} is corrupt ({exc})") from exc
        missing = [k for k in ("X", "y") if k not in out]
        if missing:
            raise DataError(
                f"{path}: missing array(s) {', '.join(missing)}; found {sorted(archive.files)} "
                f"(expected X and y, optionally X_test, y_test, X_unlabeled, classes)"
            )
    if ("X_test" in out) != ("y_test" in out):
        raise DataError(f"{path}: X_test and y_test must be given together")
    return out


def _image_layout(x: np.ndarray, where: str) -> np.ndarray:
    """Return images as N×C×H×W (C in {1, 3}), converting from (N,H,W) or (N,H,W,C)."""
    if x.ndim == 3:
        return x[:, None]
    first, last = x.shape[1] in CHANNELS, x.shape[3] in CHANNELS
    if last and (not first or x.shape[1] == x.shape[2]):
        return np.moveaxis(x, 3, 1)
    if first:
        return x
    raise DataError(
        f"{where} has shape {tuple(x.shape)}: cannot tell the channel axis; expected (N,H,W), "
        f"(N,H,W,C) or (N,C,H,W) with C 1 or 3"
    )


def _inputs(x: np.ndarray, where: str) -> tuple[np.ndarray, Modality]:
    """Check one X array; return it (images N×C×H×W uint8/float) and its modality."""
    if x.dtype == np.bool_:
        x = x.astype(np.float32)
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise DataError(f"{where} must be numeric, got dtype {x.dtype}")
    if x.ndim == 2:
        x = x.astype(np.float32) if not np.issubdtype(x.dtype, np.floating) else x
        check_finite(x, where)
        return x, "tabular"
    if x.ndim not in (3, 4):
        raise DataError(
            f"{where} has shape {tuple(x.shape)}; expected (N, D) features or (N,H,W), "
            f"(N,H,W,C), (N,C,H,W) images"
        )
    x = _image_layout(x, where)
    if np.issubdtype(x.dtype, np.integer) and x.dtype != np.uint8:
        if x.size and (x.min() < 0 or x.max() > 255):
            raise DataError(f"{where}: integer images must be in 0..255, got {x.min()}..{x.max()}")
        x = x.astype(np.uint8)
    if np.issubdtype(x.dtype, np.floating):
        check_finite(x, where)
        if x.size and (x.min() < 0 or x.max() > 1):
            row = int(np.flatnonzero(((x < 0) | (x > 1)).reshape(len(x), -1).any(axis=1))[0])
            raise DataError(
                f"{where} row {row}: float image values must be in [0, 1] (got "
                f"{float(x.min()):g}..{float(x.max()):g}); scale them or store uint8 0..255"
            )
    return x, "image"


def _labels(
    arrays: dict[str, np.ndarray], key: str, where: str, classes: list[str] | None
) -> tuple[np.ndarray, list[str] | None]:
    """Labels of ``arrays[key]`` as int64; string labels are mapped through class names."""
    y = arrays[key]
    if y.dtype.kind in "US":
        names = [v.decode() if isinstance(v, bytes) else str(v) for v in y.tolist()]
        if classes is None:
            classes = sorted(set(names))
        index = {c: i for i, c in enumerate(classes)}
        for r, v in enumerate(names):
            if v not in index:
                raise DataError(f"{where} row {r}: label {v!r} is not one of the classes {classes}")
        return np.array([index[v] for v in names], dtype=np.int64), classes
    return int_labels(y, where, None if classes is None else len(classes)), classes


def load_npz(path: Path, seed: int = 0) -> Task:
    """Load an ``.npz`` archive (see the module docstring for its arrays).

    Raises:
        DataError: missing X or y, NaN/inf (names the array and row), bad labels
            (negative, out of range, non-integral; names the row), a class without
            examples, unsupported shapes or value ranges.
    """
    arrays = _read(path)
    classes: list[str] | None = None
    if "classes" in arrays:
        raw = arrays["classes"]
        if raw.ndim != 1 or raw.dtype.kind not in "USiu":
            raise DataError(f"{path}: 'classes' must be a 1-D array of names")
        classes = [v.decode() if isinstance(v, bytes) else str(v) for v in raw.tolist()]
    x, modality = _inputs(arrays["X"], f"{path}: X")
    y, classes = _labels(arrays, "y", f"{path}: y", classes)
    if len(y) != len(x):
        raise DataError(f"{path}: X has {len(x)} rows but y has {len(y)} labels")
    if classes is None:
        n = int(y.max()) + 1 if len(y) else 0
        if "y_test" in arrays and arrays["y_test"].dtype.kind in "iuf" and arrays["y_test"].size:
            n = max(n, int(np.nanmax(arrays["y_test"])) + 1)
        classes = [str(i) for i in range(n)]
    x_test = y_test = x_unl = None
    if "X_test" in arrays:
        x_test, mod_test = _inputs(arrays["X_test"], f"{path}: X_test")
        y_test, _ = _labels(arrays, "y_test", f"{path}: y_test", classes)
        if mod_test != modality or x_test.shape[1:] != x.shape[1:]:
            raise DataError(
                f"{path}: X_test has shape {tuple(x_test.shape)}, incompatible with X {tuple(x.shape)}"
            )
        if len(y_test) != len(x_test):
            raise DataError(f"{path}: X_test has {len(x_test)} rows but y_test has {len(y_test)}")
    if "X_unlabeled" in arrays:
        x_unl, mod_unl = _inputs(arrays["X_unlabeled"], f"{path}: X_unlabeled")
        if mod_unl != modality or x_unl.shape[1:] != x.shape[1:]:
            raise DataError(
                f"{path}: X_unlabeled has shape {tuple(x_unl.shape)}, incompatible with X "
                f"{tuple(x.shape)}"
            )
    data = ArrayData(
        name=path.stem, x=x, y=y, classes=classes, modality=modality,
        x_test=x_test, y_test=y_test, x_unlabeled=x_unl,
        provenance={"source": str(path), "format": "npz"},
    )
    return build_task(data, seed=seed)
