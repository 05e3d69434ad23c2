"""Greedy portfolio: the recipes that together cover most tasks (Feurer et al., auto-sklearn 2.0, JMLR 2022).

From a table task → recipe → score (higher is better), each task's regret of a recipe is
``best_t − score`` (or, with ``normalize``, ``(best_t − score) / (best_t − worst_t)``); a recipe
never run on a task counts as that task's worst (so a task with a single recipe, whose range is
zero, says nothing; :mod:`warmstart.knowledge.prior` passes only tasks with two or more). A
portfolio's regret on a task is the smallest regret of its members; the greedy construction
repeatedly adds the recipe that most lowers the mean over tasks of that regret, and stops at
``size`` members or when no recipe lowers it.

Cost-aware (our addition, in the spirit of Quick-Tune's cost-aware acquisition, Arango et al.,
ICLR 2024): with ``cost_weight`` λ > 0 each step minimizes ``mean regret + λ·log10(seconds)`` of
the candidate, so a recipe ten times slower must lower the mean regret by λ more than a cheap one
to come first: a cheap recipe that is nearly as good is evaluated first.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from warmstart.errors import ConfigError


@dataclass(frozen=True)
class PortfolioMember:
    """One step of the greedy portfolio.

    Attributes:
        key: The recipe key.
        mean_regret: Mean over tasks of the portfolio's regret once this member is added.
        gain: How much adding it lowered the mean regret (the first member: from each task's worst).
        tasks_best: On how many tasks this recipe is the best of the table.
        tasks_run: On how many tasks it was run.
        seconds: Its median seconds (None when never timed).
    """

    key: str
    mean_regret: float
    gain: float
    tasks_best: int
    tasks_run: int
    seconds: float | None

    def to_json(self) -> dict[str, Any]:
        """Plain dict."""
        return {"key": self.key, "mean_regret": self.mean_regret, "gain": self.gain, "tasks_best": self.tasks_best,
                "tasks_run": self.tasks_run, "seconds": self.seconds}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PortfolioMember:
        """Rebuild from :meth:`to_json` output."""
        return cls(str(data["key"]), float(data["mean_regret"]), float(data["gain"]), int(data["tasks_best"]),
                   int(data["tasks_run"]), None if data["seconds"] is None else float(data["seconds"]))


def regret_matrix(scores: Mapping[str, Mapping[str, float]], *,
                  normalize: bool = False) -> tuple[list[str], list[str], np.ndarray]:
    """(tasks, recipe keys, regret[task, recipe]) with unrun recipes at the task's worst regret."""
    tasks = sorted(scores)
    keys = sorted({k for t in tasks for k in scores[t]})
    out = np.zeros((len(tasks), len(keys)))
    col = {k: j for j, k in enumerate(keys)}
    for i, t in enumerate(tasks):
        vals = scores[t]
        best, worst = max(vals.values()), min(vals.values())
        span = best - worst
        row = np.full(len(keys), 1.0 if normalize else span)
        for k, v in vals.items():
            r = best - v
            row[col[k]] = (r / span if span > 0 else 0.0) if normalize else r
        out[i] = row
    return tasks, keys, out


def greedy_portfolio(scores: Mapping[str, Mapping[str, float]], *, size: int | None = None,
                     seconds: Mapping[str, float] | None = None, cost_weight: float = 0.0,
                     normalize: bool = False) -> list[PortfolioMember]:
    """The greedy portfolio of a score table (see the module docstring).

    Args:
        scores: task → recipe key → score (higher is better).
        size: Most members; None: until no recipe lowers the mean regret.
        seconds: recipe key → typical seconds (for ``cost_weight``); a recipe without one costs
            as much as the slowest timed recipe.
        cost_weight: λ, mean regret traded per decade of seconds (0: ignore cost).
        normalize: Regret as a fraction of each task's score range instead of score units.

    Raises:
        ConfigError: an empty table, ``size`` < 1 or a negative ``cost_weight``.
    """
    if not scores or not any(scores.values()):
        raise ConfigError("the portfolio needs a table with at least one task and one recipe")
    if size is not None and size < 1:
        raise ConfigError(f"portfolio size must be >= 1, got {size}")
    if cost_weight < 0 or not math.isfinite(cost_weight):
        raise ConfigError(f"cost_weight must be >= 0, got {cost_weight}")
    tasks, keys, regret = regret_matrix(scores, normalize=normalize)
    secs = dict(seconds or {})
    slowest = max((v for v in secs.values() if v > 0), default=1.0)
    cost = np.array([math.log10(secs[k]) if secs.get(k, 0) > 0 else math.log10(slowest) for k in keys])
    best_count = (regret <= 1e-12).sum(axis=0)
    run_count = np.array([sum(k in scores[t] for t in tasks) for k in keys])
    current = np.full(len(tasks), np.inf)
    chosen: list[PortfolioMember] = []
    left = list(range(len(keys)))
    while left and (size is None or len(chosen) < size):
        means = np.array([np.minimum(current, regret[:, j]).mean() for j in left])
        before = float(current.mean()) if chosen else float(regret.max(axis=1).mean())  # empty: each task's worst
        useful = [n for n, m in enumerate(means) if m < before - 1e-12 or not chosen]
        if not useful:
            break
        # ties (equal objective) go to the cheaper, then the alphabetically first, recipe
        pick = min(useful, key=lambda n: (means[n] + cost_weight * cost[left[n]], cost[left[n]], keys[left[n]]))
        j = left.pop(pick)
        current = np.minimum(current, regret[:, j])
        after = float(current.mean())
        chosen.append(PortfolioMember(keys[j], after, before - after, int(best_count[j]), int(run_count[j]),
                                      secs.get(keys[j])))
    return chosen
