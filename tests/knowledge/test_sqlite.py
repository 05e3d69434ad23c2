"""SQLite knowledge bases shared by worker processes (``warmstart.knowledge._sqlite``)."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from warmstart.knowledge import open_storage

QUEUED = 120


def _pop_all(url: str, queue: Any, start: Any) -> None:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.load_study(study_name="queue", storage=open_storage(url))
    start.wait()
    popped = []
    while (trial_id := study._pop_waiting_trial_id()) is not None:
        popped.append(trial_id)
        try:
            study._storage.set_trial_state_values(trial_id, state=TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            popped.append(-trial_id)  # another worker had popped and finished it too
    queue.put(popped)


def test_each_queued_trial_is_taken_by_one_worker(tmp_path: Path) -> None:
    """The CI failure of stop 39: Python's sqlite3 began a transaction only at the first write, so
    two workers could both read a queued (WAITING) trial and both set it RUNNING. With the old
    connection settings this run popped 261 times for 200 queued trials."""
    url = f"sqlite:///{tmp_path}/kb.db"
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(study_name="queue", storage=open_storage(url))
    for i in range(QUEUED):
        study.enqueue_trial({"x": i}, skip_if_exists=False)
    ctx = mp.get_context("fork")
    queue, start = ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=_pop_all, args=(url, queue, start)) for _ in range(4)]
    for p in procs:
        p.start()
    start.set()
    popped = [t for _ in procs for t in queue.get(timeout=120)]
    for p in procs:
        p.join(timeout=60)
    assert sorted(popped) == sorted(t._trial_id for t in study.get_trials(deepcopy=False))
    assert all(t.state == TrialState.FAIL for t in study.get_trials(deepcopy=False))


def test_reads_and_writes_still_work_in_one_process(tmp_path: Path) -> None:
    """``BEGIN IMMEDIATE`` on every transaction: a plain study still optimizes and reloads."""
    url = f"sqlite:///{tmp_path}/kb.db"
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(study_name="plain", storage=open_storage(url))
    study.optimize(lambda t: t.suggest_float("x", 0, 1) ** 2, n_trials=5)
    again = optuna.load_study(study_name="plain", storage=open_storage(url))
    assert len(again.trials) == 5 and again.best_value == study.best_value
