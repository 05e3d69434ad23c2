"""What the report says: how the winner was chosen, the time spent, and progress plots only when there is progress."""

from __future__ import annotations

from tests.report._sections import Sections, sections
from warmstart.report import render


def _page(run: dict) -> Sections:
    return sections(render(run))


def _run(states: list[str], **extra) -> dict:
    trials = [{"number": i, "state": s, "strategy": "finetune", "value": 0.5 + 0.1 * i if s == "COMPLETE" else None,
               "elapsed": 3.0 * (i + 1)} for i, s in enumerate(states)]
    return {"task": "digits", "budget": "60 s", "trials": trials,
            "winner": {"label": "finetune from mnist5k", "strategy": "finetune", "test": {"accuracy": 0.8}}, **extra}


def test_one_completed_trial_gets_a_sentence_not_an_empty_plot() -> None:
    page = _page(_run(["COMPLETE", "PRUNED"]))
    assert page.images["progress"] == 0
    assert "1 trial completed: no search progress to draw" in page.text["progress"]
    assert "the only completed trial" in page.text["summary"]  # worked out from the trials when not recorded


def test_no_completed_trial_and_no_trials() -> None:
    for run in (_run(["PRUNED", "FAIL"]), _run([])):
        page = _page(run)
        assert page.images["progress"] == 0 and "no trial completed" in page.text["progress"]


def test_progress_plot_from_two_completed_trials_and_the_stated_selection() -> None:
    sel = {"text": "the best validation score among 2 completed trials (not counted: 1 pruned); scored by "
                   "accuracy on the labelled validation split (100 examples)"}
    page = _page(_run(["COMPLETE", "PRUNED", "COMPLETE"], selection=sel))
    assert page.images["progress"] == 1
    assert sel["text"] in page.text["summary"]


def test_time_spent_per_phase_and_older_records() -> None:
    spent = {"setup": 1.0, "pretraining": 22.5, "ranking": 0.5, "search": 30.0, "retrain": 4.0, "finish": 1.0,
             "total": 59.0, "budget": 60.0}
    text = _page(_run(["COMPLETE"], time=spent)).text["summary"]
    for label, v in (("pretraining sources", "22.5 s"), ("search", "30.0 s"), ("retraining the winner", "4.0 s"),
                     ("total", "59.0 s")):
        assert f"time: {label}{v}" in text
    old = _page(_run(["COMPLETE"], search_seconds=12.0, total_seconds=20.0)).text["summary"]
    assert "time: search12.0 s" in old and "time: total20.0 s" in old
