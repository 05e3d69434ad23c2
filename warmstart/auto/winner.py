"""The recipe auto fits on every label at the end: the chosen trial's, or the prior's first pick without a search.

Either way the final fit needs the same few things (:func:`warmstart.auto.run.auto`): the strategy,
its parameters as a trial runs them (the trial budget's short length included, which the final fit
then lengthens: :mod:`warmstart.auto.final_fit`), the architecture, the source it ran from, and the
measured seconds of one such fit when a trial measured them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from optuna.trial import FrozenTrial

from warmstart.auto.arch import split_params
from warmstart.auto.choice import trial_fit_args, trial_source
from warmstart.auto.prior_plan import PriorPlan
from warmstart.auto.search import fixed_params, recipe_source
from warmstart.auto.sources import RankedSource
from warmstart.recipe import Recipe
from warmstart.strategies import strategy_class


@dataclass(frozen=True)
class Winner:
    """What the final fit starts from.

    Attributes:
        strategy: The strategy.
        params: Its parameters as a trial runs them (the trial budget and the user's fixed ones included).
        architecture: A NAS candidate's architecture, or None.
        source: The ranked source it runs from (for a strategy that needs source data, one that has some).
        fit_seconds: Measured seconds of one fit at the trials' settings on every label (None: no trial ran).
        train_seconds: The part of them in training steps (None: unknown).
        validation: The chosen trial's validation score (None: no trial ran).
        number: The chosen trial's number (None: no trial ran).
    """

    strategy: str
    params: dict[str, Any]
    architecture: dict[str, Any] | None
    source: RankedSource
    fit_seconds: float | None = None
    train_seconds: float | None = None
    validation: float | None = None
    number: int | None = None

    def recipe(self, params: dict[str, Any], seed: int) -> Recipe:
        """The recipe of a fit of this winner with ``params`` (its source as a Recipe names it)."""
        path, source_task = recipe_source(self.source.source)
        return Recipe(self.strategy, params, source=path, source_task=source_task,
                      source_spec=self.source.source.spec, seed=seed, architecture=self.architecture)


def from_trial(trial: FrozenTrial, sources: list[RankedSource], overrides: dict[str, Any] | None) -> Winner:
    """The final fit of a chosen trial (its source the one it ran from: ``source_used`` where it stood in)."""
    strategy, params, fit, train = trial_fit_args(trial, overrides)
    _, arch = split_params(strategy, trial.params)
    used = trial_source(trial)
    return Winner(strategy, params, arch, next(r for r in sources if r.name == used), fit, train,
                  None if trial.value is None else float(trial.value), trial.number)


def from_first_pick(plan: PriorPlan, sources: list[RankedSource], overrides: dict[str, Any] | None) -> Winner:
    """The final fit of the prior's first pick, as its queued trial would have run it (:func:`from_trial`).

    A strategy that needs source data runs from the best-ranked source that has some when the pick's
    source has none, as the search's objective does.

    Raises:
        ValueError: the plan has no pick.
    """
    if not plan.configs:
        raise ValueError("the prior's plan has no pick")
    return from_config(plan.configs[0], sources, overrides)


def from_config(config: dict[str, Any], sources: list[RankedSource], overrides: dict[str, Any] | None) -> Winner:
    """The final fit of a joint-space configuration (a prior pick's, :func:`from_first_pick`), no trial measured."""
    strategy = str(config["strategy"])
    params, arch = split_params(strategy, config)
    params.update(fixed_params(strategy, overrides))
    source = next((r for r in sources if r.name == config.get("source")), sources[0])
    if strategy_class(strategy).needs_source_task and source.source.task_name is None:
        source = next((r for r in sources if r.source.task_name is not None), source)
    return Winner(strategy, params, arch, source)
