"""The prior's regression models, and their honest error by leaving whole tasks out.

Four kinds, all deterministic for a fixed seed (so a prior stored as its training table refits to
the same model at load time, :mod:`warmstart.knowledge.prior`) and all fitting small, mixed tables
without tuning:

* ``trees``: extremely randomized trees (Geurts, Ernst, Wehenkel, *Machine Learning* 2006) — the
  cost model;
* ``marginal``: a recipe's mean target at the same shots, ignoring the task
  (:class:`warmstart.knowledge._marginal.Marginal`);
* ``blend``: the equal-weight average of the two (:class:`warmstart.knowledge._marginal.Blend`) — the
  ranker;
* ``boosting``: histogram gradient boosting (scikit-learn's LightGBM-style regressor, Ke et al.,
  NeurIPS 2017) — the gray-box model, whose table (one row per curve prefix) is the largest.

A model's uncertainty is the root mean squared error of out-of-fold predictions where each fold
holds out whole tasks (a new task is never in the training table either).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.ensemble import ExtraTreesRegressor, HistGradientBoostingRegressor
from sklearn.model_selection import GroupKFold

from warmstart.errors import ConfigError
from warmstart.knowledge._marginal import Blend, Marginal

KINDS = ("trees", "boosting", "marginal", "blend")
#: most folds of the task-grouped cross-validation
MAX_FOLDS = 5


def make(kind: str, seed: int = 0, levels: Sequence[Sequence[int]] = ()) -> Any:
    """An unfitted regressor of ``kind`` (one thread); ``levels``: the column sets of ``marginal`` and ``blend``
    (:func:`warmstart.knowledge._marginal.levels`).

    Raises:
        ConfigError: an unknown kind.
    """
    if kind == "marginal":
        return Marginal(levels)
    if kind == "blend":
        return Blend(make("trees", seed), Marginal(levels))
    if kind == "trees":
        return ExtraTreesRegressor(n_estimators=100, min_samples_leaf=2, max_features=0.5, random_state=seed,
                                   n_jobs=1)
    if kind == "boosting":
        return HistGradientBoostingRegressor(max_iter=100, learning_rate=0.1, min_samples_leaf=5,
                                             early_stopping=False, random_state=seed)
    raise ConfigError(f"unknown regressor kind {kind!r}; valid: {', '.join(KINDS)}")


def fit(kind: str, x: np.ndarray, y: np.ndarray, seed: int = 0, levels: Sequence[Sequence[int]] = ()) -> Any:
    """A regressor of ``kind`` fitted on (x, y)."""
    return make(kind, seed, levels).fit(x, y)


def grouped_residuals(kind: str, x: np.ndarray, y: np.ndarray, groups: np.ndarray, seed: int = 0,
                      levels: Sequence[Sequence[int]] = ()) -> np.ndarray:
    """Out-of-fold residuals ``y − ŷ``, folds holding out whole groups (tasks); NaN with fewer than 2 groups."""
    n_groups = len(np.unique(groups))
    out = np.full(len(y), np.nan)
    if n_groups < 2:
        return out
    for train, test in GroupKFold(n_splits=min(MAX_FOLDS, n_groups)).split(x, y, groups):
        out[test] = y[test] - fit(kind, x[train], y[train], seed, levels).predict(x[test])
    return out


def rmse(residuals: np.ndarray, floor: float = 1e-3) -> float:
    """Root mean square of the finite residuals, at least ``floor`` (NaN when there are none)."""
    r = residuals[np.isfinite(residuals)]
    return max(floor, float(np.sqrt(np.mean(r ** 2)))) if len(r) else float("nan")
