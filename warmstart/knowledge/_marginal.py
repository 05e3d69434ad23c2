"""The marginal model of a recipe's relative score, and its equal-weight blend with the conditional trees.

The conditional ranker (:mod:`warmstart.knowledge._ranker`) reads a task's meta-features; with a
hundred training tasks, trees fitted on them also learn task-specific noise, and on the meta-dataset
its first pick for a held-out family was worse than the hindsight-best strategy at the same shots
(``best default`` in ``benchmarks/results/prior_quality``: top-1 regret 0.0212 against 0.0153 at 5
labels per class, 0.0123 against 0.0086 at 1, 0.0092 against 0.0073 without labels). The *marginal*
model ignores the task: a recipe's mean relative score over the
training tasks at the same shots — the per-recipe average performance that auto-sklearn 2.0's
portfolio and the "average rank" baseline of algorithm selection start from (Feurer et al., JMLR 2022;
Wistuba, Schilling & Schmidt-Thieme, "Sequential model-free hyperparameter tuning", ICDM 2015).

:class:`Blend` averages the two with equal weights: model averaging without a tuned weight, since
the meta-dataset's six families are too few to tune one on (``benchmarks/results/prior_quality``
compares the three models).

:class:`Marginal` looks a row's recipe up at the most specific level that holds enough training rows:
the same recipe at the same shots, the same recipe at any shots, the same strategy at the same
shots, the same strategy, else the mean of every row — each level first on tasks of the same
modality (image or tabular), then on every task. Recipes rank differently on the two: on the
meta-dataset's image tasks mcc leads at 10 labels per class, while on its tabular tasks, near their
ceiling, nearly every recipe ties. Over every modality, the tabular ties pulled a recipe's image mean
toward zero. Reading the modality first, leave-one-family-out
(``benchmarks/results/prior_quality``, 117 cells), lowered the regret of the prior's top three
picks kept by shrinkage (what auto's labelled search keeps) from 0.0147 to 0.0136: 0.0248 to 0.0208
at 10 labels per class, 0.0160 to 0.0154 at 5. The first pick's regret stayed at 0.0159 overall:
lower at 0, 1 and 10 labels, higher at 5 (0.0152 to 0.0181). Levels are sets of feature columns
(:func:`levels`), so both models read the same feature vectors.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

#: fewest training rows that make a level's mean count (else the next, coarser level answers)
MIN_ROWS = 3
#: the trees' weight in :class:`Blend` (the marginal model's is 1 − this)
TREES_WEIGHT = 0.5


def levels(names: Sequence[str]) -> list[list[int]]:
    """The column sets of :class:`Marginal`'s levels, most specific first, from the feature names
    (:meth:`warmstart.knowledge._prior_features.Encoder.names`): recipe + shots, recipe, strategy + shots,
    strategy, each first on tasks of the same modality (``mf_is_image``) where the names have it, then
    on every task. Levels that would be empty are left out."""
    shots = [i for i, n in enumerate(names) if n in ("log1p_shots", "all_labels")]
    modality = [i for i, n in enumerate(names) if n == "mf_is_image"]
    strategy = [i for i, n in enumerate(names) if n.startswith("strategy=")]
    recipe = strategy + [i for i, n in enumerate(names)
                         if n.startswith(("p_", "log10 p_")) or n == "has_architecture"]
    out: list[list[int]] = []
    for cols in (recipe + shots, recipe, strategy + shots, strategy):
        out += [cols + modality, cols] if modality else [cols]
    return [sorted(cols) for cols in out if cols]


class Marginal:
    """Mean target per value of a level's columns (module docstring); scikit-learn's fit/predict."""

    def __init__(self, column_levels: Sequence[Sequence[int]], min_rows: int = MIN_ROWS) -> None:
        self.column_levels = [list(c) for c in column_levels]
        self.min_rows = min_rows
        self.tables_: list[dict[tuple[float, ...], float]] = []
        self.mean_ = 0.0

    def fit(self, x: np.ndarray, y: np.ndarray) -> Marginal:
        """Tabulate the means of ``y`` (rows of ``x``)."""
        self.tables_ = []
        for cols in self.column_levels:
            acc: dict[tuple[float, ...], list[float]] = defaultdict(list)
            for row, v in zip(x[:, cols].tolist(), y.tolist(), strict=True):
                acc[tuple(row)].append(v)
            self.tables_.append({k: float(np.mean(v)) for k, v in acc.items() if len(v) >= self.min_rows})
        self.mean_ = float(np.mean(y)) if len(y) else 0.0
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Each row's mean at the most specific level that has it."""
        out = np.full(len(x), self.mean_)
        for n, row in enumerate(x):
            for cols, table in zip(self.column_levels, self.tables_, strict=True):
                hit = table.get(tuple(row[cols].tolist()))
                if hit is not None:
                    out[n] = hit
                    break
        return out


class Blend:
    """``TREES_WEIGHT``·trees + (1 − ``TREES_WEIGHT``)·:class:`Marginal` (module docstring)."""

    def __init__(self, trees: Any, marginal: Marginal, weight: float = TREES_WEIGHT) -> None:
        self.trees = trees
        self.marginal = marginal
        self.weight = weight

    def fit(self, x: np.ndarray, y: np.ndarray) -> Blend:
        """Fit both models on (x, y)."""
        self.trees.fit(x, y)
        self.marginal.fit(x, y)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The weighted average of the two models' predictions."""
        return np.asarray(self.weight * self.trees.predict(x) + (1 - self.weight) * self.marginal.predict(x))
