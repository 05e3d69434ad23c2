"""The values the prior hands out: its settings, a suggested recipe, an observed trial, a final score."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from warmstart.errors import ConfigError
from warmstart.knowledge._prior_features import GROUPS, check_groups
from warmstart.knowledge._prior_table import RecipeSpec
from warmstart.knowledge._shrinkage import Posterior

#: default λ: relative score traded per decade of seconds (a 10× slower recipe must be 1 point better)
COST_WEIGHT = 0.01
#: the ranker's models (:attr:`PriorConfig.ranker`)
RANKERS = ("blend", "trees", "marginal")


@dataclass(frozen=True)
class PriorConfig:
    """How a prior is fitted.

    Attributes:
        features: Feature groups of the ranker and gray-box model (``task``, ``shots``,
            ``transfer``, ``recipe``).
        portfolio_size: Most portfolio members (None: until none lowers the mean regret).
        cost_weight: λ, relative score traded per decade of seconds, for the portfolio and
            :meth:`Prior.suggest`.
        seed: Seed of the models.
        ranker: The ranker's model (:mod:`warmstart.knowledge._regressors`): ``blend`` (the conditional
            trees averaged with the marginal model, :mod:`warmstart.knowledge._marginal`), ``trees`` (the
            conditional trees alone, revision 24 and before) or ``marginal`` (the task left out).
        fidelity_noise: Whether :meth:`Prior.final_scores`, given the final fits' ``fractions``, reads a trial's
            validation score as a noisy observation of the *full-length* score: its variance adds the squared
            error of the length-gain model (:meth:`LengthGains.error_std`) times the share of the way to full
            length. Off by default until ``benchmarks/auto.py`` has measured it (``benchmarks/trial_choice.py``).
    """

    features: tuple[str, ...] = GROUPS
    portfolio_size: int | None = 8
    cost_weight: float = COST_WEIGHT
    seed: int = 0
    ranker: str = "blend"
    fidelity_noise: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "features", check_groups(self.features))
        if self.portfolio_size is not None and self.portfolio_size < 1:
            raise ConfigError(f"portfolio_size must be >= 1, got {self.portfolio_size}")
        if not (math.isfinite(self.cost_weight) and self.cost_weight >= 0):
            raise ConfigError(f"cost_weight must be >= 0, got {self.cost_weight}")
        if self.ranker not in RANKERS:
            raise ConfigError(f"unknown ranker model {self.ranker!r}; valid: {', '.join(RANKERS)}")

    def to_json(self) -> dict[str, Any]:
        """Plain dict."""
        return {"features": list(self.features), "portfolio_size": self.portfolio_size,
                "cost_weight": self.cost_weight, "seed": self.seed, "ranker": self.ranker,
                "fidelity_noise": self.fidelity_noise}


@dataclass
class Pick:
    """A recipe the prior suggests for a task, with why.

    Attributes:
        spec: Strategy, hyperparameters, architecture.
        source: The source (a name the caller gave in ``sources``), or None.
        predicted: Predicted score relative to the median recipe of a task (score units).
        std: The ranker's uncertainty (task-grouped out-of-fold RMSE).
        seconds: Predicted seconds of one run, or None.
        utility: ``predicted (+ gain) − λ·log10(seconds)``: the order of :meth:`Prior.suggest`.
        portfolio_rank: Its place in the greedy portfolio (1 = first), or None.
        why: One line for the user.
        gain: Predicted gain of its full length over the trial budget, counted in ``utility`` when
            :meth:`Prior.suggest` ranks for the full length (0 otherwise, or with no length gains).
    """

    spec: RecipeSpec
    source: str | None
    predicted: float
    std: float
    seconds: float | None
    utility: float
    portfolio_rank: int | None
    why: str
    gain: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """Plain dict (for run.json and the report)."""
        return {**self.spec.to_json(), "source": self.source, "predicted": self.predicted, "std": self.std,
                "seconds": self.seconds, "utility": self.utility, "portfolio_rank": self.portfolio_rank,
                "why": self.why, "gain": self.gain}


@dataclass(frozen=True)
class Observed:
    """A finished trial on the new task, as the final choice sees it.

    Attributes:
        recipe: Its recipe (a Recipe, spec or mapping with ``strategy``).
        score: Its validation score.
        fold_scores: The score of each fold.
        source: Its source's transferability scores (``logme``, ``leep``, ``tf_*``), or None.
    """

    recipe: Any
    score: float
    fold_scores: Sequence[float] = ()
    source: Mapping[str, float] | None = None


@dataclass(frozen=True)
class FinalScore:
    """An observed trial's validation score, the prior's prediction of it, and their combination.

    Attributes:
        index: Its place in the list given to :meth:`~warmstart.knowledge.prior.Prior.final_scores`.
        validation: The validation score.
        predicted: The prior's prediction on the validation scale (task level + relative prediction).
        posterior: The shrinkage estimate (:func:`warmstart.knowledge._shrinkage.shrink`).
        gain: Predicted gain of its final fit's length over the trial's (:mod:`._gains`; 0 without).
        predicted_gain: The same gain from the prior's prediction instead of the posterior mean (the room
            left above a score shrinks the gain): what :attr:`predicted_expected` adds.
    """

    index: int
    validation: float
    predicted: float
    posterior: Posterior = field(compare=False)
    gain: float = 0.0
    predicted_gain: float = 0.0

    @property
    def expected(self) -> float:
        """The posterior mean plus the length gain, at most 1 (every labelled metric's top): the expected
        score of the model auto would return."""
        return min(1.0, self.posterior.mean + self.gain)

    @property
    def predicted_expected(self) -> float:
        """The prior's prediction alone plus its length gain, at most 1: the expected score of the model auto
        would return, were the trial's validation score not seen (the final choice's tie-break)."""
        return min(1.0, self.predicted + self.predicted_gain)

    def to_json(self) -> dict[str, Any]:
        """Plain dict (for run.json and the report)."""
        return {"index": self.index, "validation": self.validation, "predicted": self.predicted, "gain": self.gain,
                "predicted_gain": self.predicted_gain,
                **{f"posterior_{k}": v for k, v in self.posterior.to_json().items()}}
