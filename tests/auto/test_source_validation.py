"""auto's final choice by the source's held-out labels: where it applies, what it fits, what it chooses.

Real fits on the breast_cancer halves (an MLP source pretrained on ``breast_cancer-a`` for a few epochs): the
phase needs a prior's plan only for its order of the strategies, built here as data.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from warmstart.auto.clock import Clock
from warmstart.auto.prior_plan import PriorPlan
from warmstart.auto.search import fixed_params
from warmstart.auto.source_validation import candidates, choose_by_source, held_out
from warmstart.auto.sources import RankedSource
from warmstart.auto.winner import Winner
from warmstart.source import Source
from warmstart.tasks import get_task, register_task

register_task("moved-breast-b", lambda: (lambda t: t.replace(
    name="moved-breast-b", x_train=t.x_train + 2 * t.x_train.std(0), x_test=t.x_test + 2 * t.x_train.std(0),
    x_val=t.x_val + 2 * t.x_train.std(0)))(get_task("breast_cancer-b")))


@pytest.fixture(scope="module")
def breast_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from warmstart.engine import TrainConfig
    from warmstart.pretraining import pretrain_supervised

    out = tmp_path_factory.mktemp("source") / "breast_cancer-a"
    pretrain_supervised(get_task("breast_cancer-a"), out, config=TrainConfig(epochs=5, progress=False, seed=0))
    return out


def _ranked(path: Path, task_name: str | None = "breast_cancer-a") -> list[RankedSource]:
    return [RankedSource("src", Source(path=path, task_name=task_name), 0.1, -0.1, 0.2)]


def _plan(strategies: list[str]) -> PriorPlan:
    order = [{"source": "src", "strategy": s} for s in strategies]
    return PriorPlan(prior=None, situation={}, sources={}, strategies=strategies, archs=None,  # type: ignore[arg-type]
                     order=order)


def _winner(ranked: list[RankedSource], strategy: str = "finetune", fit_seconds: float = 0.2) -> Winner:
    return Winner(strategy, fixed_params(strategy, None), None, ranked[0], fit_seconds=fit_seconds, validation=1.0,
                  number=0)


def test_held_out_is_the_source_tasks_validation_and_test_split_in_the_targets_classes(breast_source) -> None:
    target = get_task("breast_cancer-b").few_shot(5, seed=0)
    x, y = held_out(_ranked(breast_source)[0], target)
    src = get_task("breast_cancer-a")
    assert len(y) == len(src.y_val) + len(src.y_test) == len(x)
    assert torch.equal(x[: len(src.y_val)], src.x_val) and set(y.tolist()) == {0, 1}
    assert held_out(_ranked(breast_source, task_name=None)[0], target) is None  # no source data
    assert held_out(_ranked(breast_source)[0], get_task("wine-b").few_shot(5, seed=0)) is None  # other classes


def test_candidates_are_the_winner_then_one_recipe_per_other_strategy(breast_source) -> None:
    ranked = _ranked(breast_source)
    win = _winner(ranked, "l2sp")
    cands = candidates(_plan(["finetune", "l2sp", "source_only", "finetune"]), win, ranked, None)
    assert [c.strategy for c in cands] == ["l2sp", "finetune", "source_only"] and cands[0] is win


def test_without_a_shift_the_source_labels_choose_among_fits_at_both_lengths(breast_source) -> None:
    target = get_task("breast_cancer-b").few_shot(5, seed=0)
    ranked = _ranked(breast_source)
    choice, why = choose_by_source(target, _plan(["l2sp", "linear_probe", "source_only"]), _winner(ranked), ranked,
                                   None, Clock(60.0), seed=0, device="cpu", progress=False)
    assert why is None and choice is not None
    lengths = {(f.winner.strategy, f.length) for f in choice.fits}
    assert {("finetune", "trial"), ("finetune", "full"), ("source_only", "full"), ("linear_probe", "trial")} <= lengths
    assert ("linear_probe", "full") not in lengths  # its trial already runs at its full length
    best = max(f.accuracy for f in choice.fits)
    assert choice.fit.accuracy == best
    order = list(dict.fromkeys(id(f.winner) for f in choice.fits))  # ties: the earlier candidate, full length first
    assert choice.chosen == min((i for i, f in enumerate(choice.fits) if f.accuracy == best),
                                key=lambda i: (order.index(id(choice.fits[i].winner)), choice.fits[i].length != "full"))
    x, y = held_out(ranked[0], target)
    pred = choice.fit.result.strategy.predict(x)
    assert float((pred == y).float().mean()) == pytest.approx(choice.fit.accuracy)  # the score is what it says
    sel = choice.selection("3-fold CV")
    assert sel["by"] == "source" and "86 held-out" in sel["text"] and "no shift" in sel["text"]
    assert choice.to_json()["held_out"] == 86 and len(choice.to_json()["fits"]) == len(choice.fits)


def test_a_shifted_target_keeps_the_usual_final_fit_and_says_why(breast_source) -> None:
    target = get_task("moved-breast-b").few_shot(5, seed=0)
    ranked = _ranked(breast_source)
    choice, why = choose_by_source(target, _plan(["l2sp"]), _winner(ranked), ranked, None, Clock(60.0), seed=0,
                                   device="cpu", progress=False)
    assert choice is None and why is not None and "a shift" in why


def test_it_does_not_run_without_the_time_a_measured_trial_or_source_labels(breast_source) -> None:
    target = get_task("breast_cancer-b").few_shot(5, seed=0)
    ranked = _ranked(breast_source)
    plan = _plan(["l2sp"])
    kw = {"seed": 0, "device": "cpu", "progress": False}
    assert choose_by_source(target, plan, _winner(ranked, fit_seconds=40.0), ranked, None, Clock(60.0), **kw) == (
        None, None)  # two candidates' fits do not fit in the time left
    unmeasured = Winner("finetune", {}, None, ranked[0])  # no search ran: no measured seconds
    assert choose_by_source(target, plan, unmeasured, ranked, None, Clock(60.0), **kw) == (None, None)
    assert choose_by_source(target, plan, _winner(ranked), ranked, None, Clock(None), **kw) == (None, None)
    assert choose_by_source(target, None, _winner(ranked), ranked, None, Clock(60.0), **kw) == (None, None)
    no_data = _ranked(breast_source, task_name=None)
    assert choose_by_source(target, plan, _winner(no_data), no_data, None, Clock(60.0), **kw) == (None, None)
