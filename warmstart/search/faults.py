"""Worker processes of a search, and the names of the fault-handling pieces.

The trial loop with its budget, surplus rule, failure policy and liveness checks
is the study driver (:func:`warmstart.search.driver.drive`); owner marks and
heartbeats are in :mod:`warmstart.search.liveness`, ``--trial-timeout`` in
:mod:`warmstart.search.deadline`. This module holds the process supervisor
(:func:`supervise`): a worker process stuck past its trial deadline (e.g. in
native code, where neither ``SIGALRM`` nor an epoch callback reaches it) is
killed, its trial marked FAIL with the reason, and a replacement started.

:func:`run_trials` is the driver under its former name.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

import optuna
from optuna.trial import TrialState

from warmstart.search.deadline import DeadlineCallback, timeout_message, trial_deadline  # noqa: F401 (re-exported)
from warmstart.search.driver import SurplusTrial, drive  # noqa: F401 (re-exported)
from warmstart.search.liveness import (  # noqa: F401 (some re-exported)
    DEADLINE,
    FAIL_REASON,
    GRACE_PERIOD,
    HEARTBEAT_INTERVAL,
    ORPHAN_GRACE,
    TIMEOUT,
    WORKER,
    Heartbeat,
    fail_dead_trials,
    fail_stale_trials,
    fail_trial,
    mark_owner,
    one_line,
    own_new_trials,
)


def run_trials(study: optuna.Study, objective: Callable[[optuna.Trial], Any], *, n_trials: int | None = None,
               deadline: float | None = None, **options: Any) -> int:
    """:func:`warmstart.search.driver.drive` under its former name; returns the number of trials started."""
    return drive(study, objective, n_trials=n_trials, deadline=deadline, **options).started


# --------------------------------------------------------------------------- worker processes
def supervise(start: Callable[[int], Any], jobs: int, study: optuna.Study | None = None, *,
              trial_timeout: float | None = None, kill_grace: float | None = None,
              finished: Callable[[], bool] | None = None, poll: float = 0.5) -> list[int]:
    """Start ``jobs`` worker processes and watch them until all have exited.

    ``start(index)`` must return a started :class:`multiprocessing.Process`. With
    ``trial_timeout``, a worker whose trial runs ``kill_grace`` seconds past its
    deadline (it did not stop by itself, e.g. stuck in native code) is killed,
    its trial marked FAIL with the reason, and a replacement worker started
    unless ``finished()`` says the budget is spent.

    Returns:
        The exit codes of workers that failed on their own (empty when all went well).
    """
    procs = {i: start(i) for i in range(jobs)}
    next_index = jobs
    grace = kill_grace if kill_grace is not None else max(5.0, 0.5 * (trial_timeout or 0))
    bad: list[int] = []
    while procs:
        time.sleep(poll)
        if trial_timeout and study is not None:
            _kill_overdue(study, procs, grace)
        for i, p in list(procs.items()):
            if p.is_alive():
                continue
            p.join()
            del procs[i]
            if getattr(p, "_warmstart_killed", False):
                if finished is None or not finished():
                    procs[next_index] = start(next_index)
                    next_index += 1
            elif p.exitcode != 0:
                bad.append(int(p.exitcode if p.exitcode is not None else -1))
    return bad


def _kill_overdue(study: optuna.Study, procs: dict[int, Any], grace: float) -> None:
    by_pid = {p.pid: p for p in procs.values()}
    host = socket.gethostname()
    now = time.time()
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker, due = t.user_attrs.get(WORKER), t.user_attrs.get(DEADLINE)
        if not isinstance(worker, str) or not isinstance(due, (int, float)) or now < due + grace:
            continue
        w_host, _, pid_s = worker.rpartition(":")
        p = by_pid.get(int(pid_s)) if w_host == host and pid_s.isdigit() else None
        if p is None or not p.is_alive():
            continue
        p.kill()
        p.join(timeout=10)
        p._warmstart_killed = True
        fail_trial(study, t, timeout_message(float(t.user_attrs.get(TIMEOUT, 0.0)),
                                             "it did not stop; its worker process was killed and replaced"))
