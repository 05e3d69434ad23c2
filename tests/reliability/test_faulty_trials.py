"""Diverging and hung trials end as FAIL with the reason; the search goes on and reaches its budget."""

from __future__ import annotations

import multiprocessing as mp
import signal
import time
from pathlib import Path

import optuna
import torch
from optuna.trial import TrialState
from torch import nn

from warmstart.engine import TrainConfig, fit
from warmstart.knowledge.storage import open_storage
from warmstart.search.driver import drive
from warmstart.search.faults import supervise
from warmstart.search.runner import tune

optuna.logging.set_verbosity(optuna.logging.ERROR)


def _study(url: str, name: str = "faults") -> optuna.Study:
    return optuna.create_study(study_name=name, storage=open_storage(url), load_if_exists=True)


def _train(diverge: bool) -> float:
    """A real training run; with ``diverge`` the inputs are near float32's limit and the loss becomes inf."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(32, 4, generator=gen).sign() * (3e38 if diverge else 1.0)
    y = torch.randint(0, 3, (32,), generator=gen)
    cfg = TrainConfig(epochs=1, lr=0.1, optimizer="sgd", batch_size=16, min_steps=0, progress=False, seed=0)
    hist = fit(nn.Linear(4, 3), x, y, cfg)
    return float(hist.epochs[-1]["train_loss"])


def test_diverging_trials_fail_with_reason_and_search_goes_on(tmp_path: Path) -> None:
    study = _study(f"journal:{tmp_path / 'kb.log'}")
    drive(study, lambda t: _train(diverge=t.number % 2 == 0), n_trials=3)
    trials = study.get_trials()
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 3
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert len(failed) == 3
    for t in failed:
        assert t.user_attrs["fail_reason"].startswith("TrainingDivergedError: training diverged"), t.user_attrs


def test_hung_trial_stopped_by_trial_timeout(tmp_path: Path) -> None:
    study = _study(f"journal:{tmp_path / 'kb.log'}")

    def objective(trial: optuna.Trial) -> float:
        if trial.number == 0:
            time.sleep(60)  # hangs
        return float(trial.number)

    t0 = time.monotonic()
    drive(study, objective, n_trials=2, trial_timeout=0.3)
    assert time.monotonic() - t0 < 20
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.COMPLETE, TrialState.COMPLETE]
    assert "exceeded --trial-timeout of 0.3 s" in trials[0].user_attrs["fail_reason"]


def test_tune_trial_timeout_stops_long_training(sqlite_url: str) -> None:
    """Through the real runner: every trial trains far too long; each is stopped and the search goes on."""
    out = tune("iris", "scratch", budget="4s", warm_start="none", storage=sqlite_url, device="cpu",
               params={"epochs": 100_000, "min_steps": 0}, trial_timeout=0.5)
    assert out["trials"]["complete"] == 0 and out["trials"]["failed"] >= 2, out["trials"]
    assert any("--trial-timeout of 0.5 s" in r for r in out["fail_reasons"]), out["fail_reasons"]


def _stuck_worker(url: str) -> None:
    study = optuna.load_study(study_name="faults", storage=open_storage(url))

    def objective(trial: optuna.Trial) -> float:
        if trial.number == 0:  # stuck where neither SIGALRM nor an epoch callback can stop it
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
            time.sleep(60)
        return float(trial.number)

    drive(study, objective, n_trials=2, trial_timeout=0.3, poll=0.05)


def test_supervisor_kills_a_stuck_worker_and_replaces_it(sqlite_url: str) -> None:
    url = sqlite_url
    study = _study(url)
    ctx = mp.get_context("fork")

    def start(i: int) -> mp.process.BaseProcess:
        p = ctx.Process(target=_stuck_worker, args=(url,))
        p.start()
        return p

    t0 = time.monotonic()
    bad = supervise(start, 1, study, trial_timeout=0.3, kill_grace=0.5, poll=0.1,
                    finished=lambda: sum(t.state == TrialState.COMPLETE for t in study.get_trials()) >= 2)
    assert bad == [] and time.monotonic() - t0 < 30
    trials = study.get_trials()
    assert trials[0].state == TrialState.FAIL
    assert "its worker process was killed and replaced" in trials[0].user_attrs["fail_reason"]
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 2


def test_new_trials_carry_their_owner_and_orphans_are_failed(tmp_path: Path) -> None:
    import datetime
    import os

    from optuna.trial import FrozenTrial

    from warmstart.search.faults import ORPHAN_GRACE, fail_dead_trials, own_new_trials

    study = _study(f"journal:{tmp_path / 'kb.log'}")
    own_new_trials(study)
    trial = study.ask()  # owner recorded in the same write that creates the trial
    assert study._storage.get_trial(trial._trial_id).user_attrs["worker"].endswith(f":{os.getpid()}")
    # a trial whose worker was killed before it could mark it (e.g. popped from the queue): failed after a grace
    start = datetime.datetime.now() - datetime.timedelta(seconds=ORPHAN_GRACE + 5)
    orphan = study._storage.create_new_trial(study._study_id, FrozenTrial(
        number=-1, state=TrialState.RUNNING, value=None, datetime_start=start, datetime_complete=None, params={},
        distributions={}, user_attrs={}, system_attrs={}, intermediate_values={}, trial_id=-1))
    assert fail_dead_trials(study) == [study._storage.get_trial(orphan).number]
    assert "no worker took the trial" in study._storage.get_trial(orphan).user_attrs["fail_reason"]
    assert study._storage.get_trial(trial._trial_id).state == TrialState.RUNNING  # ours, alive: untouched
