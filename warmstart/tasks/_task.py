"""The Task: a dataset split into train/val/test, with what a strategy may see.

A Task holds its splits as tensors (or, for image folders too large for
memory, as streaming datasets), an optional unlabelled pool, class names,
modality, input shape and provenance. :meth:`Task.few_shot` applies the
few-shot protocol: ``shots=k`` means k labelled examples per class *in total*;
the rest of the labelled training data becomes unlabelled pool, and the
validation labels are dropped too.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor

from warmstart.errors import ConfigError, DataError
from warmstart.tasks._scaler import FeatureScaler, convert, converts

Modality = Literal["image", "tabular", "text"]
Inputs = Any  # Tensor, list[str] (text) or a torch Dataset yielding (x, y) (streaming images)


def n_items(x: Inputs) -> int:
    """Number of examples in an input container."""
    return len(x)


def take(x: Inputs, idx: Tensor) -> Inputs:
    """Index an input container with a 1-D index tensor (tensors, lists and datasets)."""
    if isinstance(x, Tensor):
        return x[idx]
    if isinstance(x, list):
        return [x[int(i)] for i in idx]
    return torch.utils.data.Subset(x, idx.tolist())


def concat(a: Inputs, b: Inputs) -> Inputs:
    """Concatenate two input containers of the same kind."""
    if isinstance(a, Tensor):
        return torch.cat([a, b])
    if isinstance(a, list):
        return a + b
    return torch.utils.data.ConcatDataset([a, b])


@dataclass
class Task:
    """A supervised task with its splits.

    Attributes:
        name: Registry name or a descriptive name for user data.
        x_train, y_train: Labelled training inputs and int64 labels in ``[0, n_classes)``.
        x_val, y_val: Labelled validation split (None after :meth:`few_shot`).
        x_test, y_test: Test split. Its labels are only read to report results.
        classes: Class names; ``len(classes)`` is the number of classes.
        modality: ``"image"`` (float N×C×H×W in [0, 1]), ``"tabular"`` (float N×D) or
            ``"text"`` (list of strings).
        input_shape: Shape of one input (C, H, W) or (D,) or () for text.
        x_unlabeled: Unlabelled pool, or None.
        provenance: Where the data came from and what was done to it.
        shots: Labelled examples per class when the few-shot protocol applies, else None.
        scaler: The standardization tabular inputs are in (the loaders': the training split's mean
            and std per feature), or None when unknown (inputs are then taken as they are).
    """

    name: str
    x_train: Inputs
    y_train: Tensor
    x_val: Inputs | None
    y_val: Tensor | None
    x_test: Inputs
    y_test: Tensor
    classes: list[str]
    modality: Modality
    input_shape: tuple[int, ...]
    x_unlabeled: Inputs | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    shots: int | None = None
    scaler: FeatureScaler | None = None

    @property
    def n_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)

    @property
    def has_unlabeled(self) -> bool:
        """Whether an unlabelled pool with at least one example is present."""
        return self.x_unlabeled is not None and n_items(self.x_unlabeled) > 0

    def replace(self, **changes: Any) -> Task:
        """Return a copy with some fields replaced (tensors are shared, not copied)."""
        return dataclasses.replace(self, **changes)

    def in_scale(self, scaler: FeatureScaler | None, why: str = "") -> Task:
        """This task with its tabular inputs standardized by ``scaler`` instead (through the raw values).

        A pretrained tabular model takes rows in the standardization of the table it was trained on,
        as an image model takes the normalization it was trained with; a target standardized on its
        own data is moved into it here. Returns ``self`` where there is nothing to do: ``scaler`` or
        the task's own unknown, the two equal, or inputs that are not rows of ``scaler``'s features.

        Args:
            scaler: The standardization wanted.
            why: Recorded in the provenance (``standardized``), e.g. the source's name.
        """
        if self.modality != "tabular" or not converts(self.x_train, self.scaler, scaler):
            return self

        def move(x: Inputs | None) -> Inputs | None:
            return None if x is None else convert(x, self.scaler, scaler)

        prov = {**self.provenance, "standardized": f"train-split mean and std of {why or 'another table'}"}
        return self.replace(x_train=move(self.x_train), x_val=move(self.x_val), x_test=move(self.x_test),
                            x_unlabeled=move(self.x_unlabeled), scaler=scaler, provenance=prov)

    def few_shot(self, shots: int, seed: int = 0) -> Task:
        """Apply the few-shot protocol: keep ``shots`` labels per class in total.

        The support set is drawn from the training split with a generator seeded
        by ``seed`` alone, so every strategy sees the same support set for the same
        seed. The remaining training examples and the whole validation split go to
        the unlabelled pool, without labels. ``shots=0`` keeps no labels at all
        (unsupervised domain adaptation).

        Raises:
            ConfigError: ``shots`` is negative or a class has fewer than ``shots``
                training examples.
        """
        if shots < 0:
            raise ConfigError(f"shots must be >= 0, got {shots}")
        gen = torch.Generator().manual_seed(int(seed))
        chosen: list[Tensor] = []
        for c in range(self.n_classes):
            idx = torch.nonzero(self.y_train == c).flatten()
            if len(idx) < shots:
                raise ConfigError(
                    f"task {self.name!r}: class {self.classes[c]!r} has {len(idx)} training "
                    f"examples, fewer than shots={shots}"
                )
            perm = idx[torch.randperm(len(idx), generator=gen)]
            chosen.append(perm[:shots])
        support = torch.cat(chosen) if chosen else torch.empty(0, dtype=torch.long)
        support = support[torch.randperm(len(support), generator=gen)]
        mask = torch.ones(n_items(self.x_train), dtype=torch.bool)
        mask[support] = False
        rest = torch.nonzero(mask).flatten()
        pool = take(self.x_train, rest)
        if self.x_val is not None:
            pool = concat(pool, self.x_val)
        if self.x_unlabeled is not None:
            pool = concat(pool, self.x_unlabeled)
        prov = {**self.provenance, "few_shot": {"shots": shots, "seed": seed}}
        return self.replace(
            x_train=take(self.x_train, support),
            y_train=self.y_train[support],
            x_val=None,
            y_val=None,
            x_unlabeled=pool,
            provenance=prov,
            shots=shots,
        )

    def subset_classes(self, keep: list[int], name: str | None = None) -> Task:
        """Keep only the given class indices (relabelled ``0..len(keep)-1`` in that order)."""
        if not keep or len(set(keep)) != len(keep) or not all(0 <= c < self.n_classes for c in keep):
            raise ConfigError(f"invalid class subset {keep} for task {self.name!r}")
        remap = torch.full((self.n_classes,), -1, dtype=torch.long)
        remap[torch.tensor(keep)] = torch.arange(len(keep))

        def _sel(x: Inputs | None, y: Tensor | None) -> tuple[Inputs | None, Tensor | None]:
            if x is None or y is None:
                return x, y
            idx = torch.nonzero(remap[y] >= 0).flatten()
            return take(x, idx), remap[y[idx]]

        xtr, ytr = _sel(self.x_train, self.y_train)
        xva, yva = _sel(self.x_val, self.y_val)
        xte, yte = _sel(self.x_test, self.y_test)
        return self.replace(
            name=name or f"{self.name}[{','.join(self.classes[c] for c in keep)}]",
            x_train=xtr, y_train=ytr, x_val=xva, y_val=yva, x_test=xte, y_test=yte,
            classes=[self.classes[c] for c in keep],
            provenance={**self.provenance, "class_subset": keep},
        )

    def validate(self) -> Task:
        """Check labels and values; return self.

        Raises:
            DataError: NaN/inf values, labels out of range, a class with no training
                example, or splits whose inputs and labels differ in length.
        """
        validate_task(self)
        return self

    def summary(self) -> dict[str, Any]:
        """A JSON-serializable description (sizes, classes, modality, provenance)."""
        return {
            "name": self.name,
            "modality": self.modality,
            "input_shape": list(self.input_shape),
            "classes": list(self.classes),
            "n_train": n_items(self.x_train),
            "n_val": 0 if self.x_val is None else n_items(self.x_val),
            "n_test": n_items(self.x_test),
            "n_unlabeled": 0 if self.x_unlabeled is None else n_items(self.x_unlabeled),
            "shots": self.shots,
            "provenance": self.provenance,
        }


def validate_task(task: Task) -> None:
    """Validate a task's tensors (see :meth:`Task.validate`)."""
    k = task.n_classes
    if k < 2:
        raise DataError(f"task {task.name!r}: needs at least 2 classes, got {k}")
    splits = [("train", task.x_train, task.y_train), ("val", task.x_val, task.y_val),
              ("test", task.x_test, task.y_test)]
    for split, x, y in splits:
        if x is None or y is None:
            continue
        if n_items(x) != len(y):
            raise DataError(
                f"task {task.name!r}: {split} split has {n_items(x)} inputs but {len(y)} labels"
            )
        if len(y) and (int(y.min()) < 0 or int(y.max()) >= k):
            bad = int(torch.nonzero((y < 0) | (y >= k)).flatten()[0])
            raise DataError(
                f"task {task.name!r}: {split} label {int(y[bad])} at row {bad} is out of range "
                f"[0, {k - 1}]"
            )
        if isinstance(x, Tensor) and x.is_floating_point():
            flat = x.reshape(len(x), -1) if x.numel() else x.reshape(len(x), 0)  # empty splits too
            if bool(torch.isfinite(flat.sum())):  # fast path: a NaN or inf makes the sum non-finite
                continue
            finite = torch.isfinite(flat).all(dim=1)
            if not bool(finite.all()):
                row = int(torch.nonzero(~finite).flatten()[0])
                raise DataError(f"task {task.name!r}: {split} row {row} contains NaN or inf")
    counts = torch.bincount(task.y_train, minlength=k)
    empty = [task.classes[c] for c in range(k) if counts[c] == 0]
    if empty and task.shots != 0:
        raise DataError(f"task {task.name!r}: class(es) {empty} have no training examples")
