"""From checked arrays to a Task: label checks, seeded stratified splits, scaling.

Every in-memory loader (npz, CSV, CIFAR batches, small image folders) ends
here, so they share one set of rules:

* labels are int64 in ``[0, n_classes)`` and every class has an example;
* without a given test set the data is split 70/10/20 with
  :func:`warmstart.tasks._splits.stratified_three_way`; with a given test set
  (CIFAR ``test_batch``, npz ``X_test``) 10 % of the labelled data becomes the
  validation split (stratified);
* data too small for scikit-learn's stratified split (a class with a single
  example, fewer validation rows than classes) falls back to a seeded per-class
  split that keeps at least one example of each class in train;
* image inputs become float32 in [0, 1]; tabular inputs are standardized with
  the mean and standard deviation of the training split only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from warmstart.errors import DataError
from warmstart.tasks._scaler import FeatureScaler
from warmstart.tasks._splits import FRACTIONS, stratified_three_way
from warmstart.tasks._task import Modality, Task

VAL_FRACTION = 0.1  # share of the labelled data that becomes validation when a test set is given


def first_nonfinite_row(x: np.ndarray) -> int | None:
    """Index of the first row of ``x`` holding NaN or inf, or None."""
    if not np.issubdtype(x.dtype, np.floating) or len(x) == 0:
        return None
    bad = ~np.isfinite(x.reshape(len(x), -1)).all(axis=1)
    return int(np.flatnonzero(bad)[0]) if bad.any() else None


def check_finite(x: np.ndarray, where: str) -> None:
    """Raise DataError naming the first row of ``x`` with NaN or inf.

    Args:
        x: Array whose first axis indexes rows.
        where: Culprit prefix, e.g. ``"data.npz: X"``; the message is
            ``"<where> row <i> contains NaN or inf"``.
    """
    row = first_nonfinite_row(x)
    if row is not None:
        raise DataError(f"{where} row {row} contains NaN or inf")


def int_labels(y: np.ndarray, where: str, n_classes: int | None = None) -> np.ndarray:
    """Check integer labels and return them as int64.

    Args:
        y: 1-D labels (integer dtype, or floats with integral values).
        where: Culprit prefix for messages, e.g. ``"data.npz: y"``.
        n_classes: Upper bound (exclusive) when the class names are known.

    Raises:
        DataError: not 1-D, non-integral, negative or out of range (names the row).
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise DataError(f"{where} must be 1-D, got shape {tuple(y.shape)}")
    if y.dtype == np.bool_:
        y = y.astype(np.int64)
    if np.issubdtype(y.dtype, np.floating):
        bad = ~np.isfinite(y) | (y != np.round(y))
        if bad.any():
            r = int(np.flatnonzero(bad)[0])
            raise DataError(f"{where} row {r}: label {y[r].item()!r} is not an integer")
    elif not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{where} must hold integer labels, got dtype {y.dtype}")
    y = y.astype(np.int64)
    if len(y) and y.min() < 0:
        r = int(np.flatnonzero(y < 0)[0])
        raise DataError(f"{where} row {r}: label {int(y[r])} is negative")
    if n_classes is not None and len(y) and y.max() >= n_classes:
        r = int(np.flatnonzero(y >= n_classes)[0])
        raise DataError(
            f"{where} row {r}: label {int(y[r])} is out of range for {n_classes} classes "
            f"[0, {n_classes - 1}]"
        )
    return y


def check_classes(y: np.ndarray, classes: list[str], where: str) -> None:
    """Raise DataError when there are fewer than 2 classes or a class has no example in ``y``."""
    if len(classes) < 2:
        raise DataError(f"{where}: needs at least 2 classes, got {len(classes)} ({classes})")
    counts = np.bincount(y, minlength=len(classes))
    empty = [f"{classes[c]!r} (label {c})" for c in range(len(classes)) if counts[c] == 0]
    if empty:
        raise DataError(f"{where}: class {', '.join(empty)} has no examples")


def _per_class_split(y: np.ndarray, fractions: tuple[float, ...], seed: int) -> list[np.ndarray]:
    """Seeded per-class split for tiny data: each class is cut by ``fractions``.

    Part 0 (train) keeps at least one example of every class; each later part
    gets ``fraction · n_class`` examples of a class, rounded up or down at random
    (seeded), so the parts' expected sizes follow ``fractions`` even when every
    class is tiny.
    """
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[] for _ in fractions]
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        sizes = [int(np.floor(f * len(idx) + rng.random())) for f in fractions[1:]]
        while sizes and sum(sizes) > len(idx) - 1:
            j = int(np.argmax(sizes))
            sizes[j] -= 1
        start = len(idx) - sum(sizes)
        parts[0].append(idx[:start])
        for k, s in enumerate(sizes, start=1):
            parts[k].append(idx[start : start + s])
            start += s
    return [np.sort(np.concatenate(p)) if p else np.empty(0, np.int64) for p in parts]


def split_three(y: np.ndarray, seed: int, name: str = "data") -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """Stratified seeded 70/10/20 split; returns (train, val, test, description).

    Raises:
        DataError: so few examples that the test split would be empty (named after ``name``).
    """
    try:
        tr, va, te = stratified_three_way(y, seed=seed)
        return tr, va, te, "stratified 70/10/20"
    except ValueError:
        tr, va, te = _per_class_split(y, FRACTIONS, seed)
        if len(te) == 0:
            raise DataError(f"{name}: {len(y)} labelled examples are too few for a 70/10/20 train/validation/"
                            "test split (the test split would be empty); give at least 5 per class") from None
        return tr, va, te, "per-class 70/10/20 (too few examples for a stratified split)"


def split_two(y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, str]:
    """Stratified seeded train/validation split (validation = 10 %); returns (train, val, description)."""
    from sklearn.model_selection import train_test_split  # imported here: sklearn costs seconds of start-up

    idx = np.arange(len(y))
    try:
        tr, va = train_test_split(idx, test_size=VAL_FRACTION, stratify=y, random_state=seed)
        return np.sort(tr), np.sort(va), "stratified 90/10 train/val, given test set"
    except ValueError:
        tr, va = _per_class_split(y, (1 - VAL_FRACTION, VAL_FRACTION), seed)
        return tr, va, "per-class 90/10 train/val (too few examples to stratify), given test set"


def images_to_float(x: np.ndarray) -> Tensor:
    """uint8 (0–255) or float ([0, 1]) image array → float32 tensor in [0, 1]."""
    t = torch.from_numpy(np.ascontiguousarray(x))
    if t.dtype == torch.uint8:
        return t.to(torch.float32).div_(255.0)
    return t.to(torch.float32)


@dataclass
class ArrayData:
    """Checked arrays of one dataset, ready to become a Task.

    Attributes:
        name: Task name.
        x, y: Labelled inputs (images N×C×H×W uint8/float in [0, 1], or tabular
            N×D float) and int64 labels.
        classes: Class names.
        modality: ``"image"`` or ``"tabular"``.
        x_test, y_test: A given test set, or None to split one off ``x``.
        x_unlabeled: Unlabelled inputs, or None.
        provenance: Format-specific provenance (source path, format ...).
    """

    name: str
    x: np.ndarray
    y: np.ndarray
    classes: list[str]
    modality: Modality
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    x_unlabeled: np.ndarray | None = None
    provenance: dict[str, Any] = field(default_factory=dict)


def build_task(data: ArrayData, seed: int = 0) -> Task:
    """Split, convert and (tabular) standardize ``data`` into a Task.

    Raises:
        DataError: fewer than 2 classes or a class without examples in ``data.y``.
    """
    check_classes(data.y, data.classes, data.name)
    prov = {**data.provenance, "seed": seed}
    if data.x_test is None or data.y_test is None:
        tr, va, te, how = split_three(data.y, seed, data.name)
        parts = [(data.x[i], data.y[i]) for i in (tr, va, te)]
    else:
        tr, va, how = split_two(data.y, seed)
        parts = [(data.x[tr], data.y[tr]), (data.x[va], data.y[va]), (data.x_test, data.y_test)]
    prov["split"] = how
    unl = data.x_unlabeled
    scaler = None
    if data.modality == "image":
        xs = [images_to_float(x) for x, _ in parts]
        xu = None if unl is None else images_to_float(unl)
    else:
        xs = [torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)) for x, _ in parts]
        scaler = FeatureScaler.of_train(xs[0])
        xs = [scaler.standardize(x) for x in xs]
        xu = None if unl is None else scaler.standardize(torch.from_numpy(unl.astype(np.float32)))
        prov["standardized"] = "train-split mean and std"
    ys = [torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64)) for _, y in parts]
    return Task(
        name=data.name,
        x_train=xs[0], y_train=ys[0], x_val=xs[1], y_val=ys[1], x_test=xs[2], y_test=ys[2],
        classes=list(data.classes), modality=data.modality,
        input_shape=tuple(int(s) for s in data.x.shape[1:]),
        x_unlabeled=xu, provenance=prov, scaler=scaler,
    )
