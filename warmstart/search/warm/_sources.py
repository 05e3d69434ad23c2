"""Source data of the warm starts: past tasks' evaluated configurations, nearest first.

A :class:`SourceTask` is independent of storage, so the same warm starts run
on the knowledge base (:func:`sources_from_kb`) and in the tabulated benchmark.
Scores are oriented so that higher is better. Source studies whose search
space differs from the target's transfer what overlaps: parameters the target
does not tune, or values outside the target's ranges, are dropped, and a
:class:`SpaceMismatchWarning` says so.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution
from optuna.storages import BaseStorage

from warmstart.knowledge.records import completed_trials, list_records
from warmstart.knowledge.similarity import normalized_l1
from warmstart.search.space import in_space


class SpaceMismatchWarning(UserWarning):
    """A source study's search space differs from the target's; only the overlap is transferred."""


@dataclass
class SourceTask:
    """One past task: its configurations and scores (higher is better), and its distance to the target."""

    name: str
    configs: list[dict[str, Any]]
    scores: list[float]
    distance: float = 0.0
    notes: list[str] = field(default_factory=list)

    def best(self, n: int = 1) -> list[dict[str, Any]]:
        """The ``n`` best configurations, best first."""
        order = np.argsort(-np.asarray(self.scores), kind="stable")
        return [self.configs[i] for i in order[:n]]

    def copula_scores(self) -> np.ndarray:
        """Gaussian-copula transform z = Φ⁻¹(F̂(y)) of the scores (Salinas et al. 2020).

        F̂ is the empirical CDF with ranks shifted by one half, so z is finite; ties share the mean rank.
        """
        y = np.asarray(self.scores, dtype=np.float64)
        n = len(y)
        if n == 0:
            return y
        order = y.argsort(kind="stable")
        ranks = np.empty(n)
        ranks[order] = np.arange(n)
        for v in np.unique(y):  # average ties
            m = y == v
            ranks[m] = ranks[m].mean()
        from scipy.stats import norm  # imported here: scipy.stats costs a second of start-up

        return norm.ppf((ranks + 0.5) / n)


def restrict(configs: list[dict[str, Any]], space: dict[str, BaseDistribution],
             name: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Keep only parameters of ``space`` with values inside it; return the kept configs and notes."""
    dropped: set[str] = set()
    out_of_range: set[str] = set()
    kept = []
    for c in configs:
        k: dict[str, Any] = {}
        for p, v in c.items():
            if p not in space:
                dropped.add(p)
            elif in_space(v, space[p]):
                k[p] = v
            else:
                out_of_range.add(p)
        kept.append(k)
    missing = set(space) - {p for c in kept for p in c}
    notes = []
    if dropped:
        notes.append(f"source {name}: parameters {sorted(dropped)} are not in the target space (ignored)")
    if out_of_range:
        notes.append(f"source {name}: some values of {sorted(out_of_range)} are outside the target ranges "
                     "(ignored)")
    if missing:
        notes.append(f"source {name}: has no values for {sorted(missing)} (left to the sampler)")
    for n in notes:
        warnings.warn(n, SpaceMismatchWarning, stacklevel=3)
    return kept, notes


def sources_from_kb(storage: BaseStorage, kind: str, target_key: str, target_meta: dict[str, float],
                    space: dict[str, BaseDistribution], exclude: set[str] | None = None) -> list[SourceTask]:
    """Every other study of ``kind`` with completed trials, as sources sorted by distance to the target.

    Args:
        storage: Knowledge base.
        kind: Search kind (``tune:<strategy>``).
        target_key: The target's task key (its own study is skipped).
        target_meta: The target's meta-features.
        space: The target's search space (sources are restricted to it).
        exclude: Further task keys to skip.
    """
    skip = {target_key, *(exclude or set())}
    recs = [r for r in list_records(storage, kind, counts=False) if r.task not in skip]
    out: list[SourceTask] = []
    dists = normalized_l1(target_meta, [r.meta_features for r in recs]) if recs else []
    for rec, dist in zip(recs, dists, strict=True):
        trials = completed_trials(storage, rec)
        if not trials:
            continue
        sign = 1.0 if rec.direction == "maximize" else -1.0
        configs, notes = restrict([dict(t.params) for t in trials], space, rec.task)
        scores = [sign * float(t.value) for t in trials]  # type: ignore[arg-type]
        ok = [i for i, c in enumerate(configs) if c and math.isfinite(scores[i])]
        if not ok:
            continue
        out.append(SourceTask(rec.task, [configs[i] for i in ok], [scores[i] for i in ok], dist, notes))
    return sorted(out, key=lambda s: (s.distance, s.name))
