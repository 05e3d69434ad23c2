"""Reading the situation: labels per class, unlabelled pool, domain gap → strategies worth trying.

The rules encode what the transfer-learning literature and our own benchmarks
agree on:

* no target labels, an unlabelled pool and source data → unsupervised domain
  adaptation (source-only baseline, MCC, self-training on the pool, DANN, CORAL, MMD,
  CDAN), selected without labels;
* very few labels (≤ 2 per class) → methods with few free parameters or strong
  priors (linear probe, fine-tuning with the source head, L2-SP);
* more labels → the fine-tuning family (fine-tune, L2-SP, LLRD, gradual unfreezing, BSS);
* a large measured domain gap → fine-tuning rather than a frozen linear probe;
* source data available with labels on the target → multi-task training is added;
* labels on the target and an unlabelled pool → semi-supervised transfer (FixMatch from
  the source model) is added, second.

The pool methods (MCC, self-training, FixMatch) come right after the first pool-free
method (source-only, or fine-tuning), so they are among the default trials a search
starts with, while the first trial stays a cheap one: a pool step sees several times
more images, and under a tight time budget a completed trial must come first. The
methods that train on weak and strong image views (self-training, FixMatch) are left
out for tabular and text tasks, and a method is left out when the pool is smaller than
its default unlabelled batch (its run would be refused); each omission has its reason.

Each choice is returned with its reason so the report can explain it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

from warmstart.tasks._task import Task

DA_STRATEGIES = ("source_only", "dann", "coral", "mmd", "cdan")
#: unsupervised methods that learn from the pool itself (inserted after source_only)
POOL_DA_STRATEGIES = ("mcc", "self_training")
#: semi-supervised transfer: target labels + the pool
SEMI_STRATEGIES = ("fixmatch",)
#: strategies that train on weak/strong image views
IMAGE_ONLY = ("self_training", "fixmatch")
#: what each pool method does, for the reasons
POOL_METHOD_WORDS = {"mcc": "mcc: minimum class confusion on the pool's predictions",
                     "self_training": "self_training: confident pseudo-labels on the pool, weak/strong consistency",
                     "fixmatch": "fixmatch: the labels plus confident pseudo-labels on the pool"}
FEW_LABEL_STRATEGIES = ("finetune", "linear_probe", "l2sp")
LABELLED_STRATEGIES = ("finetune", "l2sp", "llrd", "linear_probe", "gradual_unfreeze", "bss")
GAP_THRESHOLD = 0.5  # normalized entropy of the source model on the target above which the gap is "large"


@dataclass
class Situation:
    """What auto knows about the target before searching."""

    labels_per_class: int
    has_pool: bool
    has_source_data: bool
    domain_gap: float | None
    strategies: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Plain dict."""
        return {"labels_per_class": self.labels_per_class, "has_pool": self.has_pool,
                "has_source_data": self.has_source_data, "domain_gap": self.domain_gap,
                "strategies": self.strategies, "reasons": self.reasons}


def domain_gap(model: Any, task: Task, max_items: int = 512) -> float:
    """Normalized mean prediction entropy of a source classifier on the target's inputs (0: confident, 1: lost).

    A label-free proxy of the shift between source and target: a source model that is
    unsure on the target's inputs has not seen data like them.
    """
    from warmstart.engine.evaluate import predict_proba
    from warmstart.tasks._task import n_items, take

    x = task.x_unlabeled if task.has_unlabeled else task.x_train
    n = min(n_items(x), max_items)
    from warmstart.strategies._selection import entropy_score

    probs = predict_proba(model, take(x, torch.arange(n)))
    return entropy_score(probs) / math.log(probs.shape[1])


def pool_batch(strategy: str) -> int:
    """Pool examples one step of ``strategy`` draws at its defaults (``batch_size`` × ``unlabeled_ratio``)."""
    from warmstart.strategies import strategy_class

    table = strategy_class(strategy).param_table()
    ratio = table["unlabeled_ratio"].default if "unlabeled_ratio" in table else 1
    return int(table["batch_size"].default) * int(ratio)


def pool_methods(task: Task, candidates: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """The ``candidates`` that can use ``task``'s pool, and the reasons for those left out."""
    from warmstart.tasks._task import n_items

    n = n_items(task.x_unlabeled) if task.has_unlabeled else 0
    kept, reasons = [], []
    for s in candidates:
        if s in IMAGE_ONLY and task.modality != "image":
            reasons.append(f"{s} left out: it trains on weak and strong image views; the task is {task.modality} data")
        elif n < pool_batch(s):
            reasons.append(f"{s} left out: the unlabelled pool has {n} examples, fewer than one unlabelled batch "
                           f"({pool_batch(s)}) at its defaults")
        else:
            kept.append(s)
    return kept, reasons


def choose_strategies(task: Task, *, has_source_data: bool, gap: float | None,
                      allowed: list[str] | None = None) -> Situation:
    """The strategies worth trying on ``task`` and why."""
    counts = torch.bincount(task.y_train, minlength=task.n_classes) if len(task.y_train) else torch.zeros(1)
    k = int(counts.min()) if len(task.y_train) else 0
    sit = Situation(k, task.has_unlabeled, has_source_data, gap)
    if k == 0:
        if not (task.has_unlabeled and has_source_data):
            sit.reasons.append("no target labels: domain adaptation needs an unlabelled pool and --source-task")
            return sit
        pool, left_out = pool_methods(task, POOL_DA_STRATEGIES)
        sit.strategies = [DA_STRATEGIES[0], *pool, *DA_STRATEGIES[1:]]
        sit.reasons.append("no target labels, an unlabelled pool and source data: unsupervised domain "
                           "adaptation, checkpoints chosen without labels")
        if pool:
            words = "; ".join(POOL_METHOD_WORDS[m] for m in pool)
            sit.reasons.append(f"methods that learn from the pool itself tried right after source_only ({words})")
        sit.reasons += left_out
    elif k <= 2:
        sit.strategies = list(FEW_LABEL_STRATEGIES)
        sit.reasons.append(f"{k} label(s) per class: few-parameter or strongly regularized methods")
    else:
        sit.strategies = list(LABELLED_STRATEGIES)
        sit.reasons.append(f"{k} labels per class: the fine-tuning family")
    if k > 0 and gap is not None and gap > GAP_THRESHOLD and "linear_probe" in sit.strategies:
        sit.strategies.remove("linear_probe")
        sit.reasons.append(f"large domain gap (normalized entropy {gap:.2f} > {GAP_THRESHOLD}): frozen features "
                           "are unlikely to fit, linear probe dropped")
    if k > 0 and has_source_data:
        sit.strategies.append("multitask")
        sit.reasons.append("source data available: multi-task training added")
    if k > 0 and task.has_unlabeled:
        semi, left_out = pool_methods(task, SEMI_STRATEGIES)
        if semi:
            sit.strategies = [*sit.strategies[:1], *semi, *sit.strategies[1:]]
            words = "; ".join(POOL_METHOD_WORDS[m] for m in semi)
            sit.reasons.append(f"{k} label(s) per class and an unlabelled pool: semi-supervised transfer tried "
                               f"right after {sit.strategies[0]} ({words})")
        sit.reasons += left_out
    if allowed is not None:
        kept = [s for s in sit.strategies if s in allowed] or list(allowed)
        sit.reasons.append(f"restricted to the requested strategies {kept}")
        sit.strategies = kept
    return sit
