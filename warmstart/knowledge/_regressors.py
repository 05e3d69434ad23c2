"""The prior's regression models, and their honest error by leaving whole tasks out.

Two kinds, both deterministic for a fixed seed (so a prior stored as its training table refits to
the same model at load time, :mod:`warmstart.knowledge.prior`) and both fitting small, mixed tables
without tuning:

* ``trees``: extremely randomized trees (Geurts, Ernst, Wehenkel, *Machine Learning* 2006) — the
  ranker and the cost model;
* ``boosting``: histogram gradient boosting (scikit-learn's LightGBM-style regressor, Ke et al.,
  NeurIPS 2017) — the gray-box model, whose table (one row per curve prefix) is the largest.

A model's uncertainty is the root mean squared error of out-of-fold predictions where each fold
holds out whole tasks (a new task is never in the training table either).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.ensemble import ExtraTreesRegressor, HistGradientBoostingRegressor
from sklearn.model_selection import GroupKFold

from warmstart.errors import ConfigError

KINDS = ("trees", "boosting")
#: most folds of the task-grouped cross-validation
MAX_FOLDS = 5


def make(kind: str, seed: int = 0) -> Any:
    """An unfitted regressor of ``kind`` (one thread).

    Raises:
        ConfigError: an unknown kind.
    """
    if kind == "trees":
        return ExtraTreesRegressor(n_estimators=100, min_samples_leaf=2, max_features=0.5, random_state=seed,
                                   n_jobs=1)
    if kind == "boosting":
        return HistGradientBoostingRegressor(max_iter=100, learning_rate=0.1, min_samples_leaf=5,
                                             early_stopping=False, random_state=seed)
    raise ConfigError(f"unknown regressor kind {kind!r}; valid: {', '.join(KINDS)}")


def fit(kind: str, x: np.ndarray, y: np.ndarray, seed: int = 0) -> Any:
    """A regressor of ``kind`` fitted on (x, y)."""
    return make(kind, seed).fit(x, y)


def grouped_residuals(kind: str, x: np.ndarray, y: np.ndarray, groups: np.ndarray, seed: int = 0) -> np.ndarray:
    """Out-of-fold residuals ``y − ŷ``, folds holding out whole groups (tasks); NaN with fewer than 2 groups."""
    n_groups = len(np.unique(groups))
    out = np.full(len(y), np.nan)
    if n_groups < 2:
        return out
    for train, test in GroupKFold(n_splits=min(MAX_FOLDS, n_groups)).split(x, y, groups):
        out[test] = y[test] - fit(kind, x[train], y[train], seed).predict(x[test])
    return out


def rmse(residuals: np.ndarray, floor: float = 1e-3) -> float:
    """Root mean square of the finite residuals, at least ``floor`` (NaN when there are none)."""
    r = residuals[np.isfinite(residuals)]
    return max(floor, float(np.sqrt(np.mean(r ** 2)))) if len(r) else float("nan")
