"""``cmaes``: warm-starting CMA-ES from the source tasks' best trials.

Nomura, Watanabe, Akimoto, Ozaki, Onishi, "Warm Starting CMA-ES for
Hyperparameter Optimization", AAAI 2021, through Optuna's
``CmaEsSampler(source_trials=...)``, which fits the initial mean and
covariance to the promising source solutions. Source scores from different
tasks are made comparable first with the Gaussian-copula transform (each
source's scores mapped to normal quantiles). Parameters a source lacks are set
to the middle of the target range; categorical parameters are sampled by the
independent sampler (CMA-ES handles numbers only).
"""

from __future__ import annotations

import warnings

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution

from warmstart.search._encode import decode, encode
from warmstart.search.warm._base import WarmStart, tpe
from warmstart.search.warm._sources import SourceTask


def source_trials(sources: list[SourceTask], space: dict[str, BaseDistribution],
                  direction: str = "maximize") -> list[optuna.trial.FrozenTrial]:
    """Source configurations as completed FrozenTrials over ``space``.

    The value is the copula score, negated when the target study minimizes (CMA-ES reads
    source values in the target study's direction).
    """
    sign = 1.0 if direction == "maximize" else -1.0
    num = {k: d for k, d in space.items() if not isinstance(d, CategoricalDistribution)}
    out = []
    for s in sources:
        z = s.copula_scores()
        for c, v in zip(s.configs, z, strict=True):
            params = decode(encode(c, num), num)
            out.append(optuna.trial.create_trial(params=params, distributions=num, value=sign * float(v)))
    return out


def cmaes(sources: list[SourceTask], space: dict[str, BaseDistribution], seed: int | None,
          direction: str = "maximize") -> WarmStart:
    """Optuna's CMA-ES with ``source_trials`` from every source (WS-CMA-ES), for a study of ``direction``."""
    trials = source_trials(sources, space, direction)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.CmaEsSampler(source_trials=trials or None, seed=seed, n_startup_trials=1,
                                               independent_sampler=tpe(seed), warn_independent_sampling=False)
    return WarmStart("cmaes", sampler, [],
                     f"cmaes: CMA-ES initialized from {len(trials)} trials of {len(sources)} tasks (WS-CMA-ES)")


def cold_cmaes(seed: int | None) -> optuna.samplers.BaseSampler:
    """CMA-ES without transfer (the cold baseline)."""
    return optuna.samplers.CmaEsSampler(seed=seed, n_startup_trials=1, warn_independent_sampling=False)
