from __future__ import annotations

import optuna
import pytest

from warmstart.errors import ConfigError
from warmstart.search.budget import Budget, BudgetTracker, DeadlinePrune, DeadlineStop, counted_trials


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


def _slow_trainer(step_seconds: float, epochs: int, callbacks: list, steps: int = 1) -> tuple[object, object]:
    """A real Trainer whose epochs have ``steps`` steps of about ``step_seconds`` each (steps that sleep)."""
    import time

    import torch
    import torch.nn.functional as F

    from warmstart.engine import TrainConfig
    from warmstart.engine.trainer import Trainer

    def step(model, xb, yb, info):
        time.sleep(step_seconds)
        return F.cross_entropy(model(xb), yb)

    model = torch.nn.Linear(2, 2)
    cfg = TrainConfig(epochs=epochs, batch_size=4, progress=False, device="cpu")
    trainer = Trainer(model, cfg, step_fn=step, callbacks=callbacks)
    return trainer, (torch.randn(4 * steps, 2), torch.randint(0, 2, (4 * steps,)))


def test_deadline_stop_ends_training_before_the_epoch_that_would_not_fit():
    import time

    stop = DeadlineStop(0.0)
    trainer, (x, y) = _slow_trainer(0.2, 10, [stop])
    stop.deadline = time.monotonic() + 0.5  # room for two 0.2 s epochs, not a third
    hist = trainer.fit(x, y)
    assert stop.stopped_after == len(hist.epochs) == 2 and stop.total_epochs == 10
    assert "stopped after epoch 2 of 10" in hist.stopped_early
    relaxed = DeadlineStop(time.monotonic() + 60)
    trainer, (x, y) = _slow_trainer(0.01, 3, [relaxed])
    assert len(trainer.fit(x, y).epochs) == 3 and relaxed.stopped_after is None


def test_deadline_stop_cuts_an_epoch_longer_than_the_time_left():
    import time

    stop = DeadlineStop(0.0)
    trainer, (x, y) = _slow_trainer(0.05, 2, [stop], steps=20)  # 1 s epochs
    t0 = stop.deadline = time.monotonic() + 0.2
    hist = trainer.fit(x, y)
    assert time.monotonic() - t0 < 0.3 and hist.epochs == [] and "in epoch 1 of 2" in hist.stopped_early
    assert stop.stopped_after == 0 and 1 <= stop.stopped_at_step < 20


def test_deadline_prune_prunes_the_trial():
    import time

    prune = DeadlinePrune(time.monotonic() - 1.0, "the 60 s budget")  # already past
    trainer, (x, y) = _slow_trainer(0.01, 5, [prune])
    with pytest.raises(optuna.TrialPruned, match="the 60 s budget"):
        trainer.fit(x, y)
    assert prune.stopped_at_step == 1


def _weights_after(monitor: str) -> tuple[object, object, object]:
    """A 1 s-epoch trainer validated every epoch (``monitor``), stopped mid-epoch 2 by a step-level deadline."""
    import time

    import torch

    stop = DeadlineStop(0.0, whole_epochs=False)
    trainer, (x, y) = _slow_trainer(0.05, 4, [stop], steps=20)
    trainer.monitor, trainer.mode = monitor, "max"
    snapshots = []

    def val(model):
        snapshots.append(model.weight.detach().clone())
        return {"epoch_score": float(len(snapshots))}

    stop.deadline = time.monotonic() + 1.5  # epoch 1 ends at ~1 s; epoch 2 (1 s) would not fit, it starts anyway
    hist = trainer.fit(x, y, val=val, eval_every=1)
    assert len(hist.epochs) == 1 and stop.stopped_after == 1 and 21 <= stop.stopped_at_step < 40
    assert "in epoch 2 of 4" in hist.stopped_early
    return trainer.model.weight.detach().clone(), snapshots[0], torch


def test_a_deadline_without_whole_epochs_uses_the_time_and_keeps_the_last_weights_when_the_last_epoch_is_selected():
    last, epoch1, torch = _weights_after("epoch")
    assert not torch.equal(last, epoch1)  # the steps of the unfinished epoch are kept: the last weights
    best, epoch1, torch = _weights_after("epoch_score")
    assert torch.equal(best, epoch1)  # selected by a score: the best validated epoch is restored
