from __future__ import annotations

import optuna
import pytest

from warmstart.errors import ConfigError
from warmstart.search.budget import Budget, BudgetTracker, counted_trials


@pytest.mark.parametrize("text,trials,seconds", [("50", 50, None), (7, 7, None), ("90s", None, 90.0),
                                                 ("10m", None, 600.0), ("2h", None, 7200.0),
                                                 ("1.5h", None, 5400.0)])
def test_parse(text, trials, seconds):
    b = Budget.parse(text)
    assert (b.trials, b.seconds) == (trials, seconds)


@pytest.mark.parametrize("bad", ["0", "-3", "ten", "5d", "", "0s", "1e3"])
def test_parse_bad(bad):
    with pytest.raises(ConfigError, match="budget"):
        Budget.parse(bad)


def test_counts_complete_and_pruned_not_failed():
    study = optuna.create_study()
    for state in ("complete", "pruned", "fail", "complete"):
        t = study.ask()
        if state == "complete":
            study.tell(t, 1.0)
        elif state == "pruned":
            study.tell(t, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(t, state=optuna.trial.TrialState.FAIL)
    assert counted_trials(study) == 3
    tracker = BudgetTracker(Budget.parse(3))
    assert tracker.exhausted(study)
    assert not BudgetTracker(Budget.parse(4)).exhausted(study)
    # a fifth trial (number 4) has 3 non-failed trials before it: surplus for a budget of 3, not of 4
    assert tracker.is_surplus(study, 4) and not BudgetTracker(Budget.parse(4)).is_surplus(study, 4)


def test_time_budget_deadline():
    assert BudgetTracker(Budget.parse("1s"), deadline=0.0).exhausted(optuna.create_study())
    assert not BudgetTracker(Budget.parse("1h")).exhausted(optuna.create_study())
