"""The samplers of a NAS study see its architecture candidates, never its baseline trial.

The baseline trial (:mod:`warmstart.search._baseline`) is a trial of the search's study
without any architecture parameter. Seen by a sampler it would distort the search:
NSGA-II's intersection search space would become empty (every later trial random), it
would take a place in evolution's population and a parent's role, move REINFORCE's reward
baseline, and count towards TPE's startup trials. :class:`CandidatesOnly` wraps the
study's sampler and hands it a view of the study whose trial lists leave the baseline
trials out; everything else (storage, directions, system attributes) is the study's own.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from typing import Any, cast

from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from warmstart.search._baseline import is_baseline


class _CandidatesView:
    """A study as a sampler reads it: its trials without the baseline ones; any other attribute is the study's."""

    def __init__(self, study: Study) -> None:
        self._study = study

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def _get_trials(self, deepcopy: bool = True, states: Container[TrialState] | None = None,
                    use_cache: bool = False) -> list[FrozenTrial]:
        trials = self._study._get_trials(deepcopy=deepcopy, states=states, use_cache=use_cache)
        return [t for t in trials if not is_baseline(t)]

    def get_trials(self, deepcopy: bool = True, states: Container[TrialState] | None = None) -> list[FrozenTrial]:
        return [t for t in self._study.get_trials(deepcopy=deepcopy, states=states) if not is_baseline(t)]

    @property
    def trials(self) -> list[FrozenTrial]:
        return self.get_trials()


def _view(study: Study) -> Study:
    return cast(Study, _CandidatesView(study))


class CandidatesOnly(BaseSampler):
    """``inner`` (any Optuna sampler) with the study's baseline trials hidden from it.

    Args:
        inner: The search strategy's sampler.
    """

    def __init__(self, inner: BaseSampler) -> None:
        self.inner = inner

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return self.inner.infer_relative_search_space(_view(study), trial)

    def sample_relative(self, study: Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return self.inner.sample_relative(_view(study), trial, search_space)

    def sample_independent(self, study: Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        return self.inner.sample_independent(_view(study), trial, param_name, param_distribution)

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self.inner.before_trial(_view(study), trial)

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        if not is_baseline(trial):
            self.inner.after_trial(_view(study), trial, state, values)

    def reseed_rng(self) -> None:
        self.inner.reseed_rng()
