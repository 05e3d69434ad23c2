"""The study driver: failure policy, surplus rule, lost trials re-queued, storage outages, admission hook."""

from __future__ import annotations

import multiprocessing as mp
import os
import sqlite3
import threading
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from warmstart.errors import ConfigError, SearchFailedError
from warmstart.knowledge.storage import open_storage
from warmstart.search.budget import is_surplus
from warmstart.search.driver import drive
from warmstart.search.liveness import own_new_trials

optuna.logging.set_verbosity(optuna.logging.ERROR)


def _journal_study(tmp_path: Path, name: str = "driver") -> optuna.Study:
    return optuna.create_study(study_name=name, storage=open_storage(f"journal:{tmp_path / 'kb.log'}"),
                               load_if_exists=True, sampler=optuna.samplers.RandomSampler(seed=0))


def test_failures_in_a_row_stop_the_search_with_the_reasons(tmp_path: Path) -> None:
    study = _journal_study(tmp_path)

    def objective(trial: optuna.Trial) -> float:
        trial.suggest_float("x", 0, 1)
        raise ValueError("lr out of range for this model")

    with pytest.raises(SearchFailedError, match=r"3 trials in a row failed.*ValueError: lr out of range"):
        drive(study, objective, n_trials=10, max_failures=3)
    failed = study.get_trials()
    assert [t.state for t in failed] == [TrialState.FAIL] * 3
    assert all(t.user_attrs["fail_reason"] == "ValueError: lr out of range for this model" for t in failed)


def test_a_success_resets_the_failure_count_and_nan_fails_with_a_reason(tmp_path: Path) -> None:
    study = _journal_study(tmp_path)
    drive(study, lambda t: float("nan") if t.number % 2 == 0 else 1.0, n_trials=3, max_failures=2)
    trials = study.get_trials()
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 3
    nan = [t for t in trials if t.state == TrialState.FAIL]
    assert len(nan) == 3 and all("returned nan, not a finite score" in t.user_attrs["fail_reason"] for t in nan)


def test_surplus_rule_counts_waiting_trials() -> None:
    study = optuna.create_study()
    study.tell(study.ask(), 1.0)  # 0: complete
    failed = study.ask()
    study.tell(failed, state=TrialState.FAIL)  # 1: failed, does not count
    study.enqueue_trial({})  # 2: waiting: it will run and count
    trials = study.get_trials(deepcopy=False)
    assert is_surplus(trials, 3, 2) and not is_surplus(trials, 3, 3)
    assert not is_surplus(trials, 2, 2)  # only trials numbered before it
    assert not is_surplus(trials, 99, None)  # a time budget has no surplus


def test_no_budget_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="budget"):
        drive(_journal_study(tmp_path), lambda t: 0.0)


def test_admit_hook_ends_the_worker(tmp_path: Path) -> None:
    study = _journal_study(tmp_path)
    asked = []
    report = drive(study, lambda t: 0.0, admit=lambda: (asked.append(1), len(asked) <= 2)[1])
    assert report.stopped == "admit" and report.started == 2 and len(study.get_trials()) == 2


def _die_mid_trial(url: str) -> None:
    study = optuna.load_study(study_name="driver", storage=open_storage(url))
    own_new_trials(study)
    trial = study.ask()
    trial.suggest_float("x", -10, 10)
    os._exit(0)  # killed in the middle of the trial: it stays RUNNING


def test_a_trial_lost_with_its_worker_is_failed_and_run_again(tmp_path: Path) -> None:
    url = f"journal:{tmp_path / 'kb.log'}"
    study = _journal_study(tmp_path)
    p = mp.get_context("fork").Process(target=_die_mid_trial, args=(url,))
    p.start()
    p.join()
    lost = study.get_trials()[0]
    assert lost.state == TrialState.RUNNING
    report = drive(study, lambda t: t.suggest_float("x", -10, 10) ** 2, n_trials=3)
    assert report.lost == [0] and len(report.retried) == 1
    trials = {t.number: t for t in study.get_trials()}
    assert trials[0].state == TrialState.FAIL and "died during the trial" in trials[0].user_attrs["fail_reason"]
    retry = trials[report.retried[0]]
    assert retry.state == TrialState.COMPLETE and retry.params == lost.params
    assert retry.system_attrs["failed_trial"] == 0 and "fail_reason" not in retry.user_attrs
    assert sum(t.state == TrialState.COMPLETE for t in trials.values()) == 3


def test_driver_waits_out_a_locked_database(tmp_path: Path) -> None:
    """A storage that refuses every call for 1.5 s (SQLite held under an exclusive lock) does not lose a trial."""
    path = tmp_path / "kb.db"
    st = optuna.storages.RDBStorage(f"sqlite:///{path}", engine_kwargs={"connect_args": {"timeout": 0.05}})
    study = optuna.create_study(study_name="locked", storage=st)
    locked = threading.Event()

    def lock() -> None:
        con = sqlite3.connect(path, isolation_level=None, timeout=10)
        con.execute("BEGIN EXCLUSIVE")
        locked.set()
        time.sleep(1.5)
        con.execute("COMMIT")
        con.close()

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0, 1)
        if trial.number == 1:
            threading.Thread(target=lock, daemon=True).start()
            locked.wait(5)
        time.sleep(0.05)
        return x

    t0 = time.monotonic()
    drive(study, objective, n_trials=4, storage_wait=30)
    trials = study.get_trials()
    assert study._storage.outages > 0  # type: ignore[attr-defined]  # the lock was met, and waited out
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4 and time.monotonic() - t0 >= 1.5


@pytest.mark.parametrize("kind", ["journal", "sqlite"])
def test_a_trial_failed_by_another_worker_meanwhile_does_not_end_this_one(tmp_path: Path, kind: str) -> None:
    """Another machine's reaper may fail a live trial whose heartbeat it saw as stale: the worker
    that then reports it logs the drop, leaves the re-queued copy to run, and goes on (Optuna
    raises ``ValueError`` then ``AssertionError`` on a journal, ``UpdateFinishedTrialError`` on SQLite)."""
    study = _journal_study(tmp_path) if kind == "journal" else optuna.create_study(
        study_name="driver", storage=open_storage(f"sqlite:///{tmp_path / 'kb.db'}"))
    reaped: list[int] = []

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0, 1)
        if not reaped:  # the other worker's view: this trial is stale, fail it
            study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
            reaped.append(trial.number)
        return x

    report = drive(study, objective, n_trials=3)
    assert report.overtaken == reaped == [0]
    states = [t.state for t in study.get_trials()]
    assert states.count(TrialState.COMPLETE) == 3 and states[0] == TrialState.FAIL
