"""What a warm start hands the study runner: a sampler, configurations to try first, and why."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.samplers import BaseSampler


@dataclass
class WarmStart:
    """A warm start for one study.

    Attributes:
        name: ``none``, ``topk``, ``box``, ``quantile``, ``cmaes`` (``auto`` resolves to one of them).
        sampler: The Optuna sampler the study uses.
        enqueue: Configurations evaluated first (``study.enqueue_trial``), may be partial.
        description: One line: what was transferred from where (and, for ``auto``, why).
        notes: Warnings, e.g. source search spaces that only partly overlap.
    """

    name: str
    sampler: BaseSampler
    enqueue: list[dict[str, Any]] = field(default_factory=list)
    description: str = ""
    notes: list[str] = field(default_factory=list)


def tpe(seed: int | None, n_startup_trials: int = 10) -> BaseSampler:
    """The cold default: Optuna's TPE (Bergstra et al. 2011)."""
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=n_startup_trials)
