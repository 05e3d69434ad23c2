"""Data helpers of the domain-adaptation and semi-supervised loops: batch cycling, pair checks.

* :class:`Cycler` draws endless index batches from seeded successive permutations.
* :func:`check_pair` refuses source/target pairs a closed-set method cannot adapt.
* :func:`check_pool` refuses an unlabelled pool smaller than one unlabelled batch.
* :func:`match_inputs` brings source images to the target's channels and size.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from warmstart.errors import ConfigError, IncompatibleError
from warmstart.tasks._task import Task, n_items


class Cycler:
    """Endless batches of ``batch`` indices over ``n`` items: successive seeded permutations."""

    def __init__(self, n: int, batch: int, gen: torch.Generator) -> None:
        self.n, self.batch, self.gen = n, batch, gen
        self.perm = torch.randperm(n, generator=gen)
        self.pos = 0

    def next(self) -> Tensor:
        """The next batch of indices (wrapping into a new permutation when one is used up)."""
        out: list[Tensor] = []
        need = self.batch
        while need > 0:
            if self.pos >= self.n:
                self.perm, self.pos = torch.randperm(self.n, generator=self.gen), 0
            chunk = self.perm[self.pos:self.pos + need]
            self.pos += len(chunk)
            need -= len(chunk)
            out.append(chunk)
        return torch.cat(out)


def check_pair(source: Task, target: Task, strategy: str) -> None:
    """Refuse pairs these closed-set methods cannot adapt.

    Raises:
        IncompatibleError: class sets or modalities differ, or tabular widths differ
            (the message names the classes found only on one side).
        ConfigError: the target has no unlabelled pool.
    """
    if set(source.classes) != set(target.classes):
        only_s = [c for c in source.classes if c not in target.classes]
        only_t = [c for c in target.classes if c not in source.classes]
        raise IncompatibleError(
            f"{strategy} is closed-set domain adaptation: source task {source.name!r} and target "
            f"{target.name!r} need the same classes; only in source: {only_s}, only in target: {only_t}")
    if source.modality != target.modality:
        raise IncompatibleError(f"{strategy}: a {source.modality} source task cannot be adapted to "
                                f"{target.modality} task {target.name!r}")
    if source.modality == "tabular" and source.input_shape != target.input_shape:
        raise IncompatibleError(f"{strategy}: source task {source.name!r} has {source.input_shape[0]} features, "
                                f"target {target.name!r} has {target.input_shape[0]}")
    check_pool(target, strategy, 1)


def check_pool(target: Task, strategy: str, batch: int) -> None:
    """Refuse a target whose unlabelled pool is missing or smaller than one unlabelled batch.

    Raises:
        ConfigError: no pool, or fewer pool examples than ``batch``.
    """
    if not target.has_unlabeled:
        raise ConfigError(
            f"{strategy} needs an unlabelled target pool, but task {target.name!r} has none; use --shots K "
            "(the rest of its training split becomes the pool) or give a task with unlabelled data")
    n = n_items(target.x_unlabeled)
    if n < batch:
        raise ConfigError(f"{strategy}: the unlabelled pool of task {target.name!r} has {n} examples, fewer than "
                          f"one unlabelled batch ({batch}); lower batch_size (or unlabeled_ratio) or give a "
                          "larger pool")


def match_inputs(x: Any, target: Task) -> tuple[Any, list[str]]:
    """Bring source images to the target's channels and resolution (so one model sees both)."""
    if not isinstance(x, Tensor) or x.dim() != 4 or target.modality != "image":
        return x, []
    notes = []
    c, h, w = target.input_shape
    orig = x.shape[1]
    if orig != c:
        if x.shape[1] == 1:
            x = x.repeat(1, c, 1, 1)
        elif c == 1:
            x = x.mean(1, keepdim=True)
        else:
            raise IncompatibleError(f"cannot map {x.shape[1]}-channel source images to {c} channels")
        notes.append(f"source images converted from {orig} to {c} channels")
    if tuple(x.shape[-2:]) != (h, w):
        notes.append(f"source images resized from {x.shape[2]}x{x.shape[3]} to {h}x{w}")
        x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False).clamp(0, 1)
    return x, notes
