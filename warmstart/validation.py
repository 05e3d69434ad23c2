"""The one validation protocol every search uses to score a Recipe without test labels.

Every trial of ``tune``, ``search`` and ``auto`` is scored here, so the three rank the
same recipe the same way:

* the task has a labelled validation split (no few-shot cut): train on the training
  split, score on the validation split (``"split"``);
* few-shot support set, every class with at least 3 labels: stratified k-fold on the
  support set, k = min(``max_folds``, smallest class size) (``"kfold"``);
* every class with 1–2 labels: leave-one-out over the support examples — each fold
  holds out one labelled example and trains on the rest — capped at ``max_folds``
  folds chosen with the seed, one class after another (``"loo"``). With 1 label per
  class the held-out class is unseen in that fold, so this is informative only when
  the source head is reused (same class names) or the method needs no target label
  to place the class; that is why the score is combined with a prior in ``auto``;
* no labelled target example (``shots=0``): a label-free score on the unlabelled
  pool, information maximization H(mean p) − mean H(p) of the fitted model's
  predictions (higher is better; comparable across methods, unlike each method's
  own selection risk) (``"label-free"``);
* ``"none"``: no validation (a final fit on every label; the score is None).

The test split is never read here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from warmstart.errors import ConfigError
from warmstart.tasks._task import Task, n_items, take

MODES = ("auto", "split", "kfold", "loo", "label-free", "none")


@dataclass
class ValidationPlan:
    """How a recipe will be scored.

    Attributes:
        kind: ``split``, ``kfold``, ``loo``, ``label-free`` or ``none``.
        folds: The tasks to fit; each labelled fold carries its held-out part as ``x_val``/``y_val``.
        description: One line for reports (e.g. ``"stratified 3-fold CV on the 15 support labels"``).
    """

    kind: str
    folds: list[Task] = field(default_factory=list)
    description: str = ""


def stratified_folds(y: torch.Tensor, k: int, seed: int) -> list[torch.Tensor]:
    """Stratified fold index sets of the labels ``y`` (seeded; every class spread over the folds)."""
    gen = torch.Generator().manual_seed(seed)
    folds: list[list[torch.Tensor]] = [[] for _ in range(k)]
    for c in torch.unique(y):
        idx = torch.nonzero(y == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=gen)]
        for f in range(k):
            folds[f].append(idx[f::k])
    return [torch.cat(f) for f in folds]


def _held_out(task: Task, held: torch.Tensor) -> Task:
    n = len(task.y_train)
    mask = torch.ones(n, dtype=torch.bool)
    mask[held] = False
    keep = torch.nonzero(mask).flatten()
    return task.replace(x_train=take(task.x_train, keep), y_train=task.y_train[keep],
                        x_val=take(task.x_train, held), y_val=task.y_train[held])


def _loo_order(y: torch.Tensor, seed: int) -> list[int]:
    """Support indices interleaved class by class (seeded), so a capped LOO covers every class."""
    gen = torch.Generator().manual_seed(seed)
    per_class = []
    for c in torch.unique(y):
        idx = torch.nonzero(y == c).flatten()
        per_class.append(idx[torch.randperm(len(idx), generator=gen)].tolist())
    order: list[int] = []
    for i in range(max(len(p) for p in per_class)):
        order.extend(p[i] for p in per_class if i < len(p))
    return order


def plan_validation(task: Task, mode: str = "auto", *, seed: int = 0, max_folds: int = 3) -> ValidationPlan:
    """The folds a recipe is fitted on and scored with (see the module docstring).

    Args:
        task: The target task as the strategy may see it (support labels, pool; test labels unread).
        mode: ``auto`` (chosen from the task as above) or one of :data:`MODES` to force a protocol.
        seed: Seed of the fold assignment.
        max_folds: Most folds of k-fold CV and of leave-one-out.

    Returns:
        The plan.

    Raises:
        ConfigError: unknown mode, or a forced mode the task cannot support (e.g. ``label-free``
            without an unlabelled pool, ``split`` without a validation split).
    """
    if mode not in MODES:
        raise ConfigError(f"unknown validation {mode!r}; valid: {', '.join(MODES)}")
    if max_folds < 2:
        raise ConfigError(f"max_folds must be >= 2, got {max_folds}")
    has_split = task.x_val is not None and task.y_val is not None and len(task.y_val) > 0
    n_labels = len(task.y_train) if task.y_train is not None else 0
    if mode == "none":
        return ValidationPlan("none", [task], "no validation (fit on every label)")
    if mode == "auto":
        if has_split:
            mode = "split"
        elif n_labels == 0:
            mode = "label-free"
        else:
            smallest = int(torch.bincount(task.y_train, minlength=task.n_classes).min())
            mode = "kfold" if smallest >= 3 else "loo"
    if mode == "split":
        if not has_split:
            raise ConfigError(f"task {task.name!r} has no labelled validation split")
        return ValidationPlan("split", [task], f"held-out validation split ({len(task.y_val)} labels)")  # type: ignore[arg-type]
    if mode == "label-free":
        if task.x_unlabeled is None or n_items(task.x_unlabeled) == 0:
            raise ConfigError(f"task {task.name!r} has no target labels and no unlabelled pool: nothing to "
                              "validate on (give --shots >= 1 or an unlabelled pool)")
        return ValidationPlan("label-free", [task],
                              f"label-free information maximization on the {n_items(task.x_unlabeled)}-example pool")
    if n_labels < 2:
        raise ConfigError(f"task {task.name!r} has {n_labels} labelled example(s); validation needs at least 2")
    if mode == "kfold":
        smallest = int(torch.bincount(task.y_train, minlength=task.n_classes).min())
        k = min(max_folds, smallest)
        if k < 2:
            raise ConfigError(f"task {task.name!r}: a class has {smallest} label(s); k-fold needs 2 per class "
                              "(use leave-one-out: validation 'loo')")
        folds = [_held_out(task, f) for f in stratified_folds(task.y_train, k, seed)]
        return ValidationPlan("kfold", folds, f"stratified {k}-fold CV on the {n_labels} support labels")
    order = _loo_order(task.y_train, seed)[:max_folds]
    folds = [_held_out(task, torch.tensor([i])) for i in order]
    return ValidationPlan("loo", folds, f"leave-one-out on {len(folds)} of the {n_labels} support labels")


def trial_fits(task: Task, seed: int = 0) -> int:
    """How many fits one trial of the ``auto`` protocol makes on ``task``: its folds (1 for a validation split, a
    label-free score, or a task the protocol cannot score)."""
    try:
        return max(1, len(plan_validation(task, "auto", seed=seed).folds))
    except ConfigError:
        return 1
