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

``σp`` is the prior's error *on this task*. The ranker's error over every training task (±0.11 in
the shipped prior) is too wide for a task whose recipes the prior predicts well: with it, the
prior's prediction weighs almost nothing against a validation score of ±0.03, and after forty
trials the one drawn configuration whose 50-label CV happened to score 0.98 wins over recipes the
prior rightly ranks higher (the winner's curse). :func:`task_prior_std` estimates it from the
task's own trials as a hierarchical normal model does (Efron & Morris, "Data analysis using
Stein's estimator and its generalizations", JASA 1975): the spread of the validation scores around
the prior's predictions, less the part the validation noise explains, pooled with the ranker's
across-task error as :data:`PRIOR_STD_PSEUDO_COUNT` pseudo-trials — a few trials leave it near
the ranker's, many trials let the task speak.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from warmstart.errors import ConfigError

#: trials' worth of weight of the ranker's across-task error in :func:`task_prior_std`: at a
#: 2-minute budget (3–7 trials) the task's own spread and the ranker's weigh about equally, after
#: 20–40 trials the task's dominates
PRIOR_STD_PSEUDO_COUNT = 5.0
#: the smallest prior std :func:`task_prior_std` returns (a normal prior needs one above 0)
MIN_PRIOR_STD = 1e-3


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
           fold_scores: Sequence[float] = (), extra_variance: float = 0.0) -> Posterior:
    """The normal-normal posterior of a recipe's score from ``v`` and the prior (module docstring).

    Args:
        v: The validation score.
        prior_mean: The prior's prediction on the same scale.
        prior_std: Its standard deviation (> 0).
        n_examples: Held-out labels behind ``v`` (see :func:`validation_variance`).
        fold_scores: The fold scores behind ``v``.
        extra_variance: Variance added to the validation score's own (>= 0): how far ``v`` may be from the
            quantity the posterior is about for another reason than its labels, e.g. a trial's score read as
            evidence of the full-length fit's (:meth:`warmstart.knowledge.prior.Prior.final_scores`).
            ``validation_std`` of the result includes it.

    Raises:
        ConfigError: a non-positive or non-finite ``prior_std``, a non-finite ``prior_mean``, or
            what :func:`validation_variance` raises.
    """
    if not (math.isfinite(prior_std) and prior_std > 0) or not math.isfinite(prior_mean):
        raise ConfigError(f"the prior needs a finite mean and a std > 0, got {prior_mean} ± {prior_std}")
    if not (math.isfinite(extra_variance) and extra_variance >= 0):
        raise ConfigError(f"extra_variance must be finite and >= 0, got {extra_variance}")
    var_v = validation_variance(v, n_examples=n_examples, fold_scores=fold_scores) + extra_variance
    var_p = prior_std ** 2
    if var_v == 0:
        return Posterior(float(v), 0.0, 0.0, 0.0)
    precision = 1 / var_p + 1 / var_v
    mean = (prior_mean / var_p + v / var_v) / precision
    return Posterior(float(mean), float(math.sqrt(1 / precision)), float(var_v / (var_p + var_v)),
                     float(math.sqrt(var_v)))


def task_prior_std(scores: Sequence[float], means: Sequence[float], variances: Sequence[float],
                   across_tasks: float, pseudo_count: float = PRIOR_STD_PSEUDO_COUNT) -> float:
    """The prior's standard deviation on one task, from its trials (module docstring).

    The method-of-moments estimate of the between-recipe variance, ``max(0, mean((v − p)²) −
    mean(σv²))``, over the ``m`` trials, pooled with ``across_tasks²`` counted as ``pseudo_count``
    trials: ``sqrt((m·τ̂² + c·σ²) / (m + c))``, at least :data:`MIN_PRIOR_STD`.

    Args:
        scores: The trials' validation scores ``v``.
        means: The prior's prediction ``p`` of each, on the same scale.
        variances: Each score's variance ``σv²`` (:func:`validation_variance`).
        across_tasks: The ranker's error over every training task (> 0).
        pseudo_count: Its weight, in trials (>= 0).

    Raises:
        ConfigError: unequal lengths, a non-positive ``across_tasks`` or a negative ``pseudo_count``.
    """
    if not (len(scores) == len(means) == len(variances)):
        raise ConfigError(f"{len(scores)} scores, {len(means)} means and {len(variances)} variances")
    if not (math.isfinite(across_tasks) and across_tasks > 0) or not pseudo_count >= 0:
        raise ConfigError(f"needs an across-task std > 0 and a pseudo-count >= 0, got {across_tasks}, {pseudo_count}")
    m = len(scores)
    if m == 0:
        return float(across_tasks)
    spread = statistics.fmean((v - p) ** 2 for v, p in zip(scores, means, strict=True))
    between = max(0.0, spread - statistics.fmean(variances))
    pooled = (m * between + pseudo_count * across_tasks ** 2) / (m + pseudo_count)
    return max(MIN_PRIOR_STD, float(math.sqrt(pooled)))
