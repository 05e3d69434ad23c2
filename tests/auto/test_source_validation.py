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
from warmstart.auto.soup import SOUP_SIZE, average_weights
from warmstart.auto.source_validation import candidates, choose_by_source, held_out, source_check
from warmstart.auto.sources import RankedSource
from warmstart.auto.winner import Winner
from warmstart.backbones.ensemble import Ensemble
from warmstart.engine.evaluate import predict_proba
from warmstart.source import Source
from warmstart.tasks import get_task, register_task
from warmstart.tasks._scaler import convert

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
                     order=order, picks=[None], configs=order[:1])  # type: ignore[list-item]


def _winner(ranked: list[RankedSource], strategy: str = "finetune", fit_seconds: float = 0.2) -> Winner:
    return Winner(strategy, fixed_params(strategy, None), None, ranked[0], fit_seconds=fit_seconds, validation=1.0,
                  number=0)


def test_held_out_is_the_source_tasks_validation_and_test_split_in_the_targets_classes(breast_source) -> None:
    target = get_task("breast_cancer-b").few_shot(5, seed=0)
    x, y = held_out(_ranked(breast_source)[0], target)
    src = get_task("breast_cancer-a")
    assert len(y) == len(src.y_val) + len(src.y_test) == len(x)
    # in the target's standardization: the same raw rows as the source's validation split
    assert torch.allclose(convert(x[: len(src.y_val)], target.scaler, src.scaler), src.x_val, atol=1e-4)
    assert not torch.allclose(x[: len(src.y_val)], src.x_val, atol=1e-3) and set(y.tolist()) == {0, 1}
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
    plan = _plan(["finetune", "l2sp", "linear_probe", "source_only", "lora"])
    check, why = source_check(target, plan, ranked, Clock(90.0), seed=0)
    assert why is None and check is not None and not check.test.shifted and len(check.y) == 86
    choice, why = choose_by_source(target, plan, check, _winner(ranked), ranked, None, Clock(90.0), seed=0,
                                   device="cpu", progress=False)
    assert why is None and choice is not None
    lengths = {(f.winner.strategy, f.length) for f in choice.fits}
    assert {("finetune", "trial"), ("finetune", "full"), ("source_only", "full"), ("linear_probe", "trial")} <= lengths
    assert ("linear_probe", "full") not in lengths  # its trial already runs at its full length
    assert all(f.work_ratio > 1 for f in choice.fits if f.length == "full")
    # the ensemble: the fits of the lowest held-out log-loss that share the best one's architecture, at most
    # SOUP_SIZE, the lowest first
    nll = [f.nll for f in choice.fits]
    assert choice.chosen == min(range(len(nll)), key=lambda i: nll[i]) and 1 < len(choice.members) <= SOUP_SIZE
    assert [nll[i] for i in choice.members] == sorted(nll[i] for i in choice.members)
    best = choice.fits[choice.chosen].result.strategy.model_
    shared = [i for i, f in enumerate(choice.fits) if average_weights([best, f.result.strategy.model_]) is not None]
    assert len(choice.members) == min(SOUP_SIZE, len(shared))
    assert max(nll[i] for i in choice.members) <= sorted(nll[i] for i in shared)[len(choice.members) - 1]
    model = choice.result.strategy.model_  # its probabilities are the mean of the members'
    x = choice.result.strategy.task_inputs(target, target.x_test)
    members = [predict_proba(choice.fits[i].result.strategy.model_, x) for i in choice.members]
    assert isinstance(model, Ensemble) and model.size == len(choice.members)
    assert torch.allclose(predict_proba(model, x), torch.stack(members).mean(0), atol=1e-6)
    assert model is not choice.fit.result.strategy.model_ and choice.result.test is None
    for f in choice.fits:  # each score is what it says (check.x is in the target's standardization)
        p = f.result.strategy.predict_proba(f.result.strategy.task_inputs(target, check.x)).clamp_min(1e-7)
        assert float((p.argmax(1) == check.y).float().mean()) == pytest.approx(f.accuracy)
        assert float(-p[torch.arange(len(check.y)), check.y].log().mean()) == pytest.approx(f.nll, rel=1e-5)
    p = predict_proba(model, choice.result.strategy.task_inputs(target, check.x))
    assert float((p.argmax(1) == check.y).float().mean()) == pytest.approx(choice.accuracy)
    sel = choice.selection("3-fold CV")
    assert sel["by"] == "source" and "86 held-out" in sel["text"] and "no shift" in sel["text"]
    assert "average of the class probabilities" in sel["text"] and sel["text"].endswith("no search ran")
    assert sel["protocol"] == "3-fold CV"
    js = choice.to_json()
    assert js["held_out"] == 86 and len(js["fits"]) == len(choice.fits) and js["ensemble"]["fits"] == choice.members
    assert choice.notes[0].startswith("no search: the source's held-out labelled examples chose the model")


def test_a_shifted_target_keeps_the_search_and_says_why(breast_source) -> None:
    target = get_task("moved-breast-b").few_shot(5, seed=0)
    check, why = source_check(target, _plan(["l2sp"]), _ranked(breast_source), Clock(60.0), seed=0)
    assert check is None and why is not None and "a shift" in why


def test_it_does_not_apply_without_a_prior_a_time_budget_source_labels_or_a_table(breast_source) -> None:
    target = get_task("breast_cancer-b").few_shot(5, seed=0)
    ranked, plan = _ranked(breast_source), _plan(["l2sp"])
    assert source_check(target, plan, ranked, Clock(60.0), seed=0)[0] is not None
    assert source_check(target, None, ranked, Clock(60.0), seed=0) == (None, None)
    assert source_check(target, plan, ranked, Clock(None), seed=0) == (None, None)
    assert source_check(target, plan, _ranked(breast_source, task_name=None), Clock(60.0), seed=0) == (None, None)
    images = get_task("digits-a").few_shot(5, seed=0)  # measured on tables only
    assert source_check(images, plan, [RankedSource("d", Source(task_name="digits-b"), None, None, None)],
                        Clock(60.0), seed=0) == (None, None)


def test_too_little_time_for_two_candidates_leaves_the_first_pick_to_the_usual_final_fit(breast_source) -> None:
    target = get_task("breast_cancer-b").few_shot(5, seed=0)
    ranked, plan = _ranked(breast_source), _plan(["l2sp", "source_only"])
    check, _ = source_check(target, plan, ranked, Clock(60.0), seed=0)
    choice, why = choose_by_source(target, plan, check, _winner(ranked, "source_only"), ranked, None, Clock(5.0),
                                   seed=0, device="cpu", progress=False)  # its full length alone takes seconds
    assert choice is None and "fewer than 2 candidates" in why


def test_auto_returns_the_fit_the_source_labels_chose_and_says_so(breast_source, tmp_path) -> None:
    """End to end: a prior (fitted for real on rows built as data) ranks three tabular strategies, and on two
    halves of one table the source's held-out labels choose, instead of a search, the model auto saves and
    reports."""
    import json
    import random

    from warmstart.auto import auto
    from warmstart.knowledge.prior import fit_prior

    rng = random.Random(0)
    rows = [{"task": f"table{t}@5shots", "kind": "auto", "state": "COMPLETE", "shots": 5, "strategy": s, "seed": k,
             "source": "/cache/src", "params": "{}", "architecture": None, "score": acc + rng.gauss(0, 0.01),
             "metric": "val_accuracy", "validation": "kfold", "seconds": 0.5, "curve": "[]", "logme": 0.1,
             "mf_log_n_classes": 0.7, "mf_is_image": 0.0}
            for t in range(4) for s, acc in (("finetune", 0.9), ("l2sp", 0.85), ("source_only", 0.8)) for k in range(3)]
    prior = fit_prior(rows).save(tmp_path / "prior.json.gz")
    r = auto("breast_cancer-b", budget="40s", sources=[breast_source], source_tasks=["breast_cancer-a"],
             storage=str(tmp_path / "kb.db"), shots=5, strategies=["finetune", "l2sp", "source_only"],
             out=tmp_path / "run", progress=False, prior=str(prior), device="cpu")
    sv = r["source_validation"]
    assert r["selection"]["by"] == "source" and sv["held_out"] == 86 and not sv["test"]["shifted"]
    chosen = sv["fits"][sv["chosen"]]
    assert chosen["source_nll"] == min(f["source_nll"] for f in sv["fits"])
    assert sv["ensemble"]["fits"][0] == sv["chosen"]
    assert r["winner"]["strategy"] == chosen["strategy"] and r["winner"]["final_fit"]["length"] == chosen["length"]
    if len(sv["ensemble"]["fits"]) > 1:  # the winner's label names every member of the ensemble
        assert r["winner"]["label"].startswith(f"ensemble of {chosen['strategy']} ({chosen['length']})")
        assert r["winner"]["label"].count("(") == len(sv["ensemble"]["fits"])
        assert "average of the class probabilities" in r["winner"]["ensemble"]
    assert any(f["length"] == "full" and f["work_ratio"] > 1 for f in sv["fits"])
    assert any("held-out labelled examples chose the model" in n for n in r["notes"]) and not r["trials"]
    saved = json.loads((tmp_path / "run" / "run.json").read_text())
    assert saved["source_validation"]["chosen"] == sv["chosen"]
    assert "held-out labelled" in (tmp_path / "run" / "report.html").read_text()
    # the saved model is the ensemble: loaded back, it scores what the run reported on the test split
    from warmstart.backbones.checkpoint import load_checkpoint
    from warmstart.engine.evaluate import predict_proba

    ck = load_checkpoint(tmp_path / "run" / "model")
    test = get_task("breast_cancer-b")
    assert ck.model.input_spec.scaler == get_task("breast_cancer-a").scaler  # the source table's standardization
    x = convert(test.x_test, test.scaler, ck.model.input_spec.scaler)
    acc = float((predict_proba(ck.model, x).argmax(1) == test.y_test).float().mean())
    assert acc == pytest.approx(r["winner"]["test"]["accuracy"])
    assert "average of the class probabilities" in ck.meta["extra"]["ensemble"]
