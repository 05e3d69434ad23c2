"""Conformance test over the sampler registry: every registered search method, the moment it registers.

Each sampler must be an Optuna ``BaseSampler``, propose only points inside the search space, and give
the same proposals for the same seed (and different ones for another seed, so the check can fail).
"""

from __future__ import annotations

import warnings
from typing import Any

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from warmstart.errors import UnknownNameError
from warmstart.search.nas_space import Space
from warmstart.search.samplers import SamplerContext, as_sampler, build_sampler, list_samplers
from warmstart.search.warm import SourceTask

NAS_SPACE = {"cut": [1, 2, 3], "blocks": [0, 1, 2], "act": ["relu", "gelu"], "width": [16, 32, 64]}
HPO_SPACE = {"lr": FloatDistribution(1e-4, 1e-1, log=True), "epochs": IntDistribution(1, 20),
             "augment": CategoricalDistribution(["none", "light", "strong"])}
N_TRIALS = 10


def _sources() -> list[SourceTask]:
    configs = [{"lr": 10 ** (-4 + 3 * i / 9), "epochs": 1 + 2 * i, "augment": ["none", "light", "strong"][i % 3]}
               for i in range(10)]
    return [SourceTask("past-a", configs, [float(-abs(i - 6)) for i in range(10)], distance=0.1),
            SourceTask("past-b", configs, [float(-abs(i - 3)) for i in range(10)], distance=0.4)]


def _objective(trial: optuna.Trial, family: str) -> float:
    if family == "nas":
        p = {k: trial.suggest_categorical(k, v) for k, v in NAS_SPACE.items()}
        return p["cut"] + 0.5 * p["blocks"] + (p["width"] / 64) + (p["act"] == "gelu")
    p = {k: _suggest(trial, k, d) for k, d in HPO_SPACE.items()}
    return -abs(p["lr"] - 0.01) * 10 + p["epochs"] / 20 + (p["augment"] == "light")


def _suggest(trial: optuna.Trial, name: str, d: Any) -> Any:
    if isinstance(d, FloatDistribution):
        return trial.suggest_float(name, d.low, d.high, log=d.log)
    if isinstance(d, IntDistribution):
        return trial.suggest_int(name, d.low, d.high)
    return trial.suggest_categorical(name, d.choices)


def _run(entry: Any, seed: int) -> list[dict[str, Any]]:
    ctx = SamplerContext(space=Space(NAS_SPACE) if entry.family == "nas" else None,
                         distributions=None if entry.family == "nas" else dict(HPO_SPACE),
                         seed=seed, sources=_sources())
    built = build_sampler(entry.name, entry.family, ctx)
    sampler = as_sampler(built)
    assert isinstance(sampler, optuna.samplers.BaseSampler), entry.name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = optuna.create_study(direction="maximize", sampler=sampler)
        for cfg in getattr(built, "enqueue", []):
            study.enqueue_trial(cfg)
        study.optimize(lambda t: _objective(t, entry.family), n_trials=N_TRIALS)
    return [dict(t.params) for t in study.trials]


@pytest.mark.parametrize("entry", list_samplers(), ids=lambda e: f"{e.family}:{e.name}")
def test_sampler_conforms(entry: Any) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    first = _run(entry, seed=3)
    assert len(first) == N_TRIALS
    for params in first:
        if entry.family == "nas":
            for k, v in params.items():
                assert v in NAS_SPACE[k], (entry.name, k, v)
        else:
            for k, v in params.items():
                assert HPO_SPACE[k]._contains(HPO_SPACE[k].to_internal_repr(v)), (entry.name, k, v)
    assert first == _run(entry, seed=3), f"{entry.name}: same seed, different proposals"
    assert first != _run(entry, seed=4), f"{entry.name}: another seed gave identical proposals"
    assert entry.summary and "(" in entry.summary, f"{entry.name}: summary must cite its paper"


def test_unknown_sampler_lists_the_valid_ones() -> None:
    with pytest.raises(UnknownNameError, match="evolution"):
        build_sampler("annealing", "nas", SamplerContext(space=Space(NAS_SPACE)))
