"""Reading the situation: labels per class, unlabelled pool, domain gap → strategies worth trying.

The rules encode what the transfer-learning literature and our own benchmarks
agree on:

* no target labels, an unlabelled pool and source data → unsupervised domain
  adaptation (source-only baseline, DANN, CORAL, MMD, CDAN), selected without labels;
* very few labels (≤ 2 per class) → methods with few free parameters or strong
  priors (linear probe, fine-tuning with the source head, L2-SP);
* more labels → the fine-tuning family (fine-tune, L2-SP, LLRD, gradual unfreezing, BSS);
* a large measured domain gap → fine-tuning rather than a frozen linear probe;
* source data available with labels on the target → multi-task training is added.

Each choice is returned with its reason so the report can explain it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

from warmstart.tasks._task import Task

DA_STRATEGIES = ("source_only", "dann", "coral", "mmd", "cdan")
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
        sit.strategies = list(DA_STRATEGIES)
        sit.reasons.append("no target labels, an unlabelled pool and source data: unsupervised domain "
                           "adaptation, checkpoints chosen without labels")
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
    if allowed is not None:
        kept = [s for s in sit.strategies if s in allowed] or list(allowed)
        sit.reasons.append(f"restricted to the requested strategies {kept}")
        sit.strategies = kept
    return sit
