"""Rotation classes: every (class, quarter-turn) pair of an image task becomes a class of its own.

Meta-learning from few source classes overfits to them. The Omniglot literature
multiplies the classes by rotating every image by 90, 180 and 270 degrees and
treating each rotated copy of a class as a new class (Santoro et al., "Meta-Learning
with Memory-Augmented Neural Networks", ICML 2016; Vinyals et al. 2016; Snell et al.,
"Prototypical Networks for Few-shot Learning", NeurIPS 2017: 1200 characters × 4
rotations = 4800 training classes). Quarter turns are exact pixel permutations
(:func:`torch.rot90`), so no interpolation changes the images.

Rotated copies of a nearly rotation-symmetric class (a "0" turned half-way, an "8")
look like the original: such classes are hard to tell apart in an episode, which
adds label noise; the expanded task says which classes it made so this can be seen.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from warmstart.errors import ConfigError
from warmstart.tasks._task import Inputs, Task

QUARTER_TURNS = (0, 1, 2, 3)


def rotate_quarter_turns(x: Tensor, turns: int) -> Tensor:
    """Images N×C×H×W turned counter-clockwise by ``turns`` × 90 degrees (exact)."""
    return torch.rot90(x, int(turns) % 4, dims=(2, 3))


def with_rotation_classes(task: Task, turns: Sequence[int] = QUARTER_TURNS) -> Task:
    """A task whose classes are the (class, rotation) pairs of ``task``.

    Class ``c`` rotated by ``turns[j]`` quarter turns gets index ``j * K + c`` (K the
    original number of classes) and name ``"<name>"`` for no turn, ``"<name>@<deg>"``
    otherwise, so the unrotated classes keep their indices and names. Every labelled
    split (train, val, test) is expanded; an unlabelled pool is expanded too.

    Args:
        task: An image task held in memory with square images.
        turns: Distinct quarter turns to apply, each in 0..3 (default all four).

    Returns:
        A new task with ``len(turns) * K`` classes and ``len(turns)`` times the examples.

    Raises:
        ConfigError: not an in-memory image task, non-square images, or invalid turns.
    """
    if task.modality != "image" or not isinstance(task.x_train, Tensor) or task.x_train.dim() != 4:
        raise ConfigError(f"rotation classes need an image task held in memory; task {task.name!r} is "
                          f"{task.modality}" + ("" if task.modality != "image" else " streamed from disk"))
    h, w = task.x_train.shape[-2:]
    if h != w:
        raise ConfigError(f"rotation classes need square images; task {task.name!r} has {h}x{w}")
    turns = [int(t) for t in turns]
    if not turns or len(set(turns)) != len(turns) or any(t not in QUARTER_TURNS for t in turns):
        raise ConfigError(f"rotation turns must be distinct values in 0..3, got {list(turns)}")
    k = task.n_classes

    def expand(x: Inputs | None, y: Tensor | None) -> tuple[Inputs | None, Tensor | None]:
        if x is None or y is None:
            return x, y
        xs = torch.cat([rotate_quarter_turns(x, t) for t in turns])
        ys = torch.cat([y + j * k for j in range(len(turns))])
        return xs, ys

    xtr, ytr = expand(task.x_train, task.y_train)
    xva, yva = expand(task.x_val, task.y_val)
    xte, yte = expand(task.x_test, task.y_test)
    pool = None if task.x_unlabeled is None else torch.cat(
        [rotate_quarter_turns(task.x_unlabeled, t) for t in turns])
    names = [c if t == 0 else f"{c}@{90 * t}" for t in turns for c in task.classes]
    assert xtr is not None and ytr is not None and xte is not None and yte is not None
    return task.replace(name=f"{task.name}+rot", x_train=xtr, y_train=ytr, x_val=xva, y_val=yva,
                        x_test=xte, y_test=yte, x_unlabeled=pool, classes=names,
                        provenance={**task.provenance, "rotation_classes": turns})
