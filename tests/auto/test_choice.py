"""auto's final choice: the one-standard-error rule over the posterior means (warmstart/auto/choice.py)."""

from __future__ import annotations

from warmstart.auto.choice import one_se_pick
from warmstart.knowledge._prior_types import FinalScore
from warmstart.knowledge._shrinkage import Posterior


def _score(index: int, mean: float, std: float = 0.03) -> FinalScore:
    return FinalScore(index, mean, mean, Posterior(mean, std, 0.5, std))


def test_a_drawn_configuration_within_one_se_does_not_displace_a_queued_recipe() -> None:
    scores = [_score(0, 0.922), _score(1, 0.906), _score(2, 0.90)]  # best first
    assert one_se_pick(scores, [False, True, True]).index == 1  # 0.906 >= 0.922 - 0.03: the best queued one


def test_a_drawn_configuration_beyond_one_se_wins() -> None:
    scores = [_score(0, 0.95), _score(1, 0.90)]
    assert one_se_pick(scores, [False, True]).index == 0  # 0.90 < 0.95 - 0.03


def test_the_best_wins_when_it_is_queued_or_nothing_is() -> None:
    scores = [_score(0, 0.93), _score(1, 0.92)]
    assert one_se_pick(scores, [True, True]).index == 0
    assert one_se_pick(scores, [False, False]).index == 0


def test_the_selection_says_when_the_rule_changed_the_pick() -> None:
    from types import SimpleNamespace

    from warmstart.auto.choice import Choice, selection

    rows = [{"number": 0, "state": "COMPLETE", "value": 0.93}, {"number": 1, "state": "COMPLETE", "value": 0.91}]
    rule = "one-standard-error rule: the queued recipe of trial 1 (posterior 0.906) kept over trial 0"
    out = selection(rows, "3-fold CV", Choice(SimpleNamespace(number=1), "posterior", rule=rule))  # type: ignore[arg-type]
    assert out["rule"] == rule and rule in out["text"] and out["by"] == "posterior"
