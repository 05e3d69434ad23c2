"""Gray-box prediction: a trial's final score from the first epochs of its curve.

Quick-Tune (Arango et al., ICLR 2024) conditions its surrogate on the learning curve observed so
far, so a trial whose first epochs look unpromising is stopped. Here gradient boosting
(:mod:`warmstart.knowledge._regressors`) maps (task, source, recipe features; curve-prefix features)
to the trial's final target score. Each stored curve of ``L`` epochs gives one training sample per
prefix length 1 … min(L, :data:`MAX_PREFIX`), and one for the whole curve. The prefix features are
its length ``e``, first, last, best and mean value, and the last step's change.

The standard deviation of a prediction is the task-grouped out-of-fold RMSE of the samples with
the same prefix length (prefixes longer than any measured use the longest measured).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from warmstart.errors import ConfigError
from warmstart.knowledge._prior_features import Encoder
from warmstart.knowledge._prior_table import PriorTable, RecipeSpec, _num
from warmstart.knowledge._regressors import fit, grouped_residuals, rmse

#: fewest curves, and of tasks they come from, to fit the gray-box model
MIN_CURVES, MIN_TASKS = 4, 2
#: prefix lengths sampled from each curve: 1 .. MAX_PREFIX, and the whole curve
MAX_PREFIX = 10


def prefix_features(prefix: Sequence[float]) -> list[float]:
    """(e, first, last, best, mean, last change) of a non-empty curve prefix."""
    v = [float(x) for x in prefix]
    return [float(len(v)), v[0], v[-1], max(v), sum(v) / len(v), v[-1] - v[-2] if len(v) > 1 else 0.0]


@dataclass
class CurveModel:
    """The fitted gray-box model (see the module docstring).

    Attributes:
        encoder: The feature vocabulary.
        model: Model of the final score.
        sigmas: Out-of-fold RMSE by prefix length (index e−1).
    """

    encoder: Encoder
    model: Any
    sigmas: list[float]

    @classmethod
    def fit(cls, table: PriorTable, encoder: Encoder, *, seed: int = 0,
            sigmas: list[float] | None = None) -> CurveModel | None:
        """Fit on the table's curves; None with fewer than :data:`MIN_CURVES` curves or :data:`MIN_TASKS` tasks.

        ``sigmas`` skips the cross-validation.
        """
        curves = table.curves
        if len(curves) < MIN_CURVES or len({c.task for c in curves}) < MIN_TASKS:
            return None
        rows, y, groups, lengths = [], [], [], []
        for c in curves:
            info = table.tasks[c.task]
            base = encoder.vector(info.meta, info.shots, c.transfer, table.recipes[c.recipe])
            for e in sorted({*range(1, min(len(c.curve), MAX_PREFIX) + 1), len(c.curve)}):
                rows.append(base + prefix_features(c.curve[:e]))
                y.append(c.final)
                groups.append(c.task)
                lengths.append(e)
        x, yy = np.array(rows), np.array(y)
        if sigmas is None:
            res = grouped_residuals("boosting", x, yy, np.array(groups), seed)
            ln = np.array(lengths)
            overall = rmse(res)
            sigmas = [rmse(res[ln == e]) if (ln == e).any() else overall for e in range(1, int(ln.max()) + 1)]
        return cls(encoder, fit("boosting", x, yy, seed), sigmas)

    def predict_final(self, curve_prefix: Sequence[float], spec: RecipeSpec, meta: Mapping[str, float],
                      shots: int | None, transfer: Mapping[str, float]) -> tuple[float, float]:
        """(mean, std) of the final score of a trial whose first epochs gave ``curve_prefix``.

        Raises:
            ConfigError: an empty prefix or a non-finite value in it.
        """
        values = [_num(v) for v in curve_prefix]
        if not values or any(v is None for v in values):
            raise ConfigError(f"a curve prefix needs one or more finite values, got {list(curve_prefix)!r}")
        prefix = [float(v) for v in values if v is not None]
        x = np.array([self.encoder.vector(meta, shots, transfer, spec) + prefix_features(prefix)])
        sigma = self.sigmas[min(len(prefix), len(self.sigmas)) - 1]
        return float(self.model.predict(x)[0]), float(sigma)
