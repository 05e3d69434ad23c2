"""Conditional ranker: a recipe's score on a new task from the task, the source and the recipe.

A zero-shot surrogate in the spirit of ZAP (Öztürk et al., ICML 2022) and Quick-Tune's
meta-learned surrogate (Arango et al., ICLR 2024): by default extremely randomized trees on the
features of :mod:`warmstart.knowledge._prior_features` averaged with the marginal model (a recipe's
mean at the same shots, the task left out; :mod:`warmstart.knowledge._marginal`; the model is
:attr:`~warmstart.knowledge._prior_types.PriorConfig.ranker`), fitted on per-task *relative* scores: a record's
target minus the median target of its task's records. Relative scores are in
score units (accuracy points), so tasks of different difficulty are comparable, and a prediction
plus the level of the new task (e.g. the median validation score of its trials so far) is a
prediction on the validation scale, which the shrinkage of :mod:`warmstart.knowledge._shrinkage` needs.

Its uncertainty ``sigma`` is the task-grouped out-of-fold error (one number for every prediction).
A second model predicts ``log10(seconds)`` for the cost-aware order: utility = predicted relative
score − λ·log10(predicted seconds).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from warmstart.knowledge._marginal import levels
from warmstart.knowledge._prior_features import Encoder, split_situation
from warmstart.knowledge._prior_table import PriorTable, RecipeSpec
from warmstart.knowledge._regressors import fit, grouped_residuals, rmse


def relative_targets(table: PriorTable, tasks: Sequence[str]) -> list[tuple[int, float]]:
    """(record index, target − its task's median target) for the records of ``tasks``."""
    wanted = set(tasks)
    by_task: dict[str, list[float]] = defaultdict(list)
    for r in table.records:
        if r.task in wanted:
            by_task[r.task].append(r.y)
    med = {t: statistics.median(v) for t, v in by_task.items()}
    return [(i, r.y - med[r.task]) for i, r in enumerate(table.records) if r.task in wanted]


@dataclass
class Ranker:
    """The fitted ranker (see the module docstring).

    Attributes:
        encoder: The feature vocabulary.
        model: Model of the relative score.
        sigma: Its task-grouped out-of-fold RMSE (score units).
        cost: Model of log10(seconds), or None when fewer than two records were timed.
        cost_sigma: Its out-of-fold RMSE (decades), or NaN.
    """

    encoder: Encoder
    model: Any
    sigma: float
    cost: Any
    cost_sigma: float

    @classmethod
    def fit(cls, table: PriorTable, encoder: Encoder, tasks: Sequence[str], *, seed: int = 0,
            sigmas: tuple[float, float] | None = None, kind: str = "blend") -> Ranker:
        """Fit on the records of ``tasks``; ``sigmas`` (score, cost) skips their cross-validation; ``kind``: the
        score model (:data:`~warmstart.knowledge._prior_types.RANKERS`; the cost model is always trees)."""
        pairs = relative_targets(table, tasks)
        x = np.array([_vector(encoder, table, table.records[i]) for i, _ in pairs])
        y = np.array([v for _, v in pairs])
        groups = np.array([table.records[i].task for i, _ in pairs])
        cols = levels(encoder.names())
        timed = [(n, s) for n, (i, _) in enumerate(pairs) if (s := table.records[i].seconds) is not None and s > 0]
        cost = None
        cost_sigma = float("nan")
        rows = [n for n, _ in timed]
        ly = np.log10(np.array([s for _, s in timed], dtype=float))
        if len(timed) >= 2:
            cost = fit("trees", x[rows], ly, seed)
        if sigmas is None:
            sigma = rmse(grouped_residuals(kind, x, y, groups, seed, cols))
            if cost is not None:
                cost_sigma = rmse(grouped_residuals("trees", x[rows], ly, groups[rows], seed))
        else:
            sigma, cost_sigma = sigmas
        return cls(encoder, fit(kind, x, y, seed, cols), sigma, cost, cost_sigma)

    def predict(self, meta: Mapping[str, float], shots: int | None, transfer: Mapping[str, float],
                specs: Sequence[RecipeSpec]) -> tuple[np.ndarray, np.ndarray | None]:
        """(predicted relative scores, predicted seconds or None) of each spec on one situation."""
        if not specs:
            return np.array([]), None
        x = np.array([self.encoder.vector(meta, shots, transfer, s) for s in specs])
        secs = None if self.cost is None else 10.0 ** self.cost.predict(x)
        return self.model.predict(x), secs

    def relative_scores(self, meta: Mapping[str, float], shots: int | None, transfer: Mapping[str, float],
                        runs: Sequence[tuple[Any, Mapping[str, float] | None]]) -> list[float]:
        """The relative prediction of each (recipe, its source's transferability) of ``runs`` on one task: one
        batched :meth:`predict` per distinct source (a call costs tens of milliseconds whatever its size, and
        auto's search asks after every trial about all of them). A source's scores are added to ``transfer``."""
        groups: dict[tuple[tuple[str, float], ...], list[int]] = {}
        for i, (_, source) in enumerate(runs):
            groups.setdefault(tuple(sorted({**transfer, **split_situation(source or {})[2]}.items())), []).append(i)
        out = [0.0] * len(runs)
        for key, idx in groups.items():
            preds = self.predict(meta, shots, dict(key), [RecipeSpec.of(runs[i][0]) for i in idx])[0]
            for i, p in zip(idx, preds, strict=True):
                out[i] = float(p)
        return out


def _vector(encoder: Encoder, table: PriorTable, r: Any) -> list[float]:
    info = table.tasks[r.task]
    return encoder.vector(info.meta, info.shots, r.transfer, table.recipes[r.recipe])
