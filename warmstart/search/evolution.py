"""Regularized evolution as an Optuna sampler (Real, Aggarwal, Huang & Le, AAAI 2019).

The population is the ``population_size`` most recent COMPLETE trials. Each new
trial samples ``sample_size`` members at random, takes the best of them as its
parent and mutates one decision (:meth:`Space.mutate`). Aging: when a child
joins, the OLDEST member leaves the population (not the worst), because the
population is always the most recent trials. Until the population is full,
trials are sampled at random. The parent's trial number is stored as the
trial's system attribute ``nas:parent``, so the objective can load the parent
trial's trained weights (kept as trial artifacts) before training the child.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState

from warmstart.errors import ConfigError
from warmstart.search.nas_space import Space

PARENT_ATTR = "nas:parent"


class RegularizedEvolutionSampler(BaseSampler):
    """Aging evolution over a :class:`Space` (single objective).

    Args:
        space: The architecture space.
        population_size: P, the number of most recent trials that form the population.
        sample_size: S, the tournament size (``1 <= S <= P``).
        seed: Seed of the sampler's random choices.
    """

    def __init__(self, space: Space, population_size: int = 10, sample_size: int = 3,
                 seed: int | None = None) -> None:
        if not 1 <= sample_size <= population_size:
            raise ConfigError(f"evolution needs 1 <= sample_size <= population_size, got S={sample_size}, "
                              f"P={population_size}")
        self.space = space
        self.population_size, self.sample_size = population_size, sample_size
        self._rng = random.Random(seed)
        self._random = RandomSampler(seed=seed)

    def reseed_rng(self) -> None:
        self._rng = random.Random()
        self._random.reseed_rng()

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return dict(self.space.distributions())

    def population(self, study: Study) -> list[FrozenTrial]:
        """The current population: the most recent COMPLETE trials, oldest first."""
        done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        done = sorted(done, key=lambda t: t.number)
        return done[-self.population_size:]

    def sample_relative(self, study: Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        pop = self.population(study)
        if len(pop) < self.population_size:
            arch = self.space.sample(self._rng)
            return {k: v for k, v in arch.items() if k in search_space}
        tournament = self._rng.sample(pop, self.sample_size)
        sign = 1.0 if study.direction == StudyDirection.MINIMIZE else -1.0
        parent = min(tournament, key=lambda t: sign * float(t.value))  # type: ignore[arg-type]
        child = self.space.mutate(dict(parent.params), self._rng)
        study._storage.set_trial_system_attr(trial._trial_id, PARENT_ATTR, parent.number)
        return {k: v for k, v in child.items() if k in search_space}

    def sample_independent(self, study: Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        return self._random.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        return None


def parent_of(trial: optuna.Trial | FrozenTrial) -> int | None:
    """The parent trial number the sampler chose, or None (a random trial)."""
    attrs = trial.system_attrs if isinstance(trial, FrozenTrial) else trial.study._storage.get_trial_system_attrs(
        trial._trial_id)
    value = attrs.get(PARENT_ATTR)
    return None if value is None else int(value)
