"""The recipe auto's final fit starts from: the chosen trial's, or the prior's first pick without a search
(warmstart/auto/winner.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import create_trial

from warmstart.auto.prior_plan import PriorPlan
from warmstart.auto.sources import RankedSource
from warmstart.auto.winner import from_first_pick, from_trial
from warmstart.knowledge.prior import Prior
from warmstart.source import Source

CKPT = RankedSource("ckpt", Source(path=Path("/nowhere/ckpt")), 0.2, -1.0, 0.3)
DATA = RankedSource("task:mnist5k", Source(task_name="mnist5k"), 0.1, -1.2, 0.4)


def _plan(config: dict) -> PriorPlan:
    plan = PriorPlan(Prior.__new__(Prior), {}, {}, [str(config["strategy"])], None)
    plan.configs = [config]
    return plan


def test_a_trial_winner_keeps_its_settings_its_seconds_and_the_source_it_ran_from() -> None:
    dists = {"source": CategoricalDistribution(["ckpt", "task:mnist5k"]),
             "strategy": CategoricalDistribution(["multitask"]), "multitask.lr": FloatDistribution(1e-5, 1e-1)}
    trial = create_trial(params={"source": "ckpt", "strategy": "multitask", "multitask.lr": 0.01}, value=0.8,
                         distributions=dists, user_attrs={"source_used": "task:mnist5k", "fit_seconds": 3.0})
    win = from_trial(trial, [CKPT, DATA], {"epochs": 2})
    assert win.strategy == "multitask" and win.params["lr"] == 0.01 and win.params["epochs"] == 2
    assert win.source is DATA and win.fit_seconds == 3.0 and win.train_seconds is None
    assert win.validation == 0.8 and win.number == trial.number


def test_the_first_pick_runs_as_its_queued_trial_would() -> None:
    win = from_first_pick(_plan({"source": "ckpt", "strategy": "finetune", "finetune.lr": 0.003}), [CKPT, DATA], None)
    assert win.strategy == "finetune" and win.params["lr"] == 0.003 and win.source is CKPT
    assert win.fit_seconds is None and win.validation is None and win.number is None
    # a strategy that needs source data stands in the best-ranked source that has some, as the objective does
    multi = from_first_pick(_plan({"source": "ckpt", "strategy": "multitask"}), [CKPT, DATA], None)
    assert multi.source is DATA
    with pytest.raises(ValueError, match="no pick"):
        from_first_pick(PriorPlan(Prior.__new__(Prior), {}, {}, [], None), [CKPT], None)
