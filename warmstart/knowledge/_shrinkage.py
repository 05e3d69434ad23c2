"""Shrinkage: combine a noisy few-shot validation score with the prior's prediction.

With 5 labels per class a validation score has a standard error of several points, so choosing
the final recipe by it alone picks noise. Treat the prior's prediction ``p`` (std ``σp``) as a
normal prior on the recipe's true score and the validation score ``v`` (std ``σv``) as a normal
observation of it; the posterior (the normal-normal model, e.g. Gelman et al., *Bayesian Data
Analysis*, ch. 2) has

    mean = (p/σp² + v/σv²) / (1/σp² + 1/σv²),    var = 1 / (1/σp² + 1/σv²).

``σv²`` is the larger of two estimates, whichever the caller can give: the binomial variance of an
accuracy measured on ``n_examples`` held-out labels, ``p̃(1−p̃)/n`` with the Laplace-smoothed
``p̃ = (v·n + 1)/(n + 2)`` (so a perfect score on 3 labels is not certain), and the spread of
the fold scores, ``s²/k`` (sample variance over ``k`` folds).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from warmstart.errors import ConfigError


@dataclass(frozen=True)
class Posterior:
    """The combined estimate of a recipe's score.

    Attributes:
        mean: Posterior mean.
        std: Posterior standard deviation.
        weight_prior: The prior's weight in the mean, ``σv² / (σp² + σv²)`` (0: validation only).
        validation_std: ``σv``, the validation score's estimated standard error.
    """

    mean: float
    std: float
    weight_prior: float
    validation_std: float

    def to_json(self) -> dict[str, Any]:
        """Plain dict."""
        return {"mean": self.mean, "std": self.std, "weight_prior": self.weight_prior,
                "validation_std": self.validation_std}


def validation_variance(v: float, *, n_examples: int | None = None, fold_scores: Sequence[float] = ()) -> float:
    """The variance of a validation score ``v`` (see the module docstring).

    Args:
        v: The validation score (accuracy-like, in [0, 1]).
        n_examples: How many held-out labels scored it (k-fold CV: every support label once).
        fold_scores: The score of each fold (used with two or more).

    Raises:
        ConfigError: a non-finite ``v``, ``n_examples`` < 1, or neither estimate available.
    """
    if not math.isfinite(v):
        raise ConfigError(f"a validation score must be finite, got {v}")
    out: list[float] = []
    if n_examples is not None:
        if n_examples < 1:
            raise ConfigError(f"n_examples must be >= 1, got {n_examples}")
        p = (min(1.0, max(0.0, v)) * n_examples + 1) / (n_examples + 2)
        out.append(p * (1 - p) / n_examples)
    folds = [float(s) for s in fold_scores if math.isfinite(float(s))]
    if len(folds) >= 2:
        out.append(statistics.variance(folds) / len(folds))
    if not out:
        raise ConfigError("the variance of a validation score needs n_examples or two or more fold scores")
    return max(out)


def shrink(v: float, prior_mean: float, prior_std: float, *, n_examples: int | None = None,
           fold_scores: Sequence[float] = ()) -> Posterior:
    """The normal-normal posterior of a recipe's score from ``v`` and the prior (module docstring).

    Args:
        v: The validation score.
        prior_mean: The prior's prediction on the same scale.
        prior_std: Its standard deviation (> 0).
        n_examples: Held-out labels behind ``v`` (see :func:`validation_variance`).
        fold_scores: The fold scores behind ``v``.

    Raises:
        ConfigError: a non-positive or non-finite ``prior_std``, a non-finite ``prior_mean``, or
            what :func:`validation_variance` raises.
    """
    if not (math.isfinite(prior_std) and prior_std > 0) or not math.isfinite(prior_mean):
        raise ConfigError(f"the prior needs a finite mean and a std > 0, got {prior_mean} ± {prior_std}")
    var_v = validation_variance(v, n_examples=n_examples, fold_scores=fold_scores)
    var_p = prior_std ** 2
    if var_v == 0:
        return Posterior(float(v), 0.0, 0.0, 0.0)
    precision = 1 / var_p + 1 / var_v
    mean = (prior_mean / var_p + v / var_v) / precision
    return Posterior(float(mean), float(math.sqrt(1 / precision)), float(var_v / (var_p + var_v)),
                     float(math.sqrt(var_v)))
