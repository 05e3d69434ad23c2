"""Fault handling for searches: killed workers, hung and diverging trials, budget races.

The pieces live in three modules: :mod:`warmstart.search.liveness` (owner marks,
heartbeats, failing dead workers' trials), :mod:`warmstart.search.deadline`
(``--trial-timeout``) and this one (the budget-keeping worker loop and the
process supervisor), which the study runner calls.

A search runs for hours on shared machines; nothing it finished may be lost and
no fault may stop it. This module holds the pieces the study runner uses:

* **Owner marks and dead workers.** Every trial records the worker that runs it
  (``worker`` = ``host:pid`` and ``worker_proc`` = boot id and process start
  time, so a reused pid is not mistaken for the owner). A RUNNING trial whose
  owner on *this* machine no longer exists (killed with SIGKILL, out of memory)
  is marked FAIL with a reason at once (:func:`fail_dead_trials`), so a
  restarted command continues without waiting.
* **Heartbeats** for workers on other machines. RDB storages use Optuna's own
  heartbeat (``heartbeat_interval``/``grace_period`` of
  :class:`optuna.storages.RDBStorage`); storages without one (journal files)
  get a thread that stamps the trial's ``heartbeat`` user attribute
  (:class:`Heartbeat`). :func:`fail_stale_trials` fails trials whose heartbeat
  is older than the grace period, with a reason.
* **Trial deadlines** (``--trial-timeout``): :func:`trial_deadline` raises
  :class:`~warmstart.errors.TrialTimeoutError` inside the trial, from a
  ``SIGALRM`` timer in the main thread (deferred while a storage call is in
  progress, so no transaction is torn) and from an epoch-end training callback
  (any thread). A worker *process* that still does not stop is killed by the
  parent's :func:`supervise`, which marks its trial FAIL and starts a
  replacement worker.
* **Budget without overshoot** (:func:`run_trials`): a worker starts a trial
  only while COMPLETE + PRUNED + RUNNING < N, and the number the storage hands
  out atomically decides who is surplus when workers race (a surplus trial is
  closed as FAIL with the reason and never trains). Failed trials do not count,
  so the study still reaches N counted trials.
* **Divergence and other trial errors** end that trial as FAIL with the reason
  in its ``fail_reason`` user attribute; the search goes on.

References: Optuna's distributed optimization and heartbeat
(Akiba et al., KDD 2019, "Optuna: A Next-generation Hyperparameter
Optimization Framework").
"""

from __future__ import annotations

import contextlib
import socket
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from warmstart.errors import TrialTimeoutError
from warmstart.search.deadline import DeadlineCallback, timeout_message, trial_deadline  # noqa: F401 (re-exported)
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


class SurplusTrial(Exception):
    """This trial would exceed the trial budget: other workers got there first (it never trains)."""


# --------------------------------------------------------------------------- budget + worker loop
COUNTED = (TrialState.COMPLETE, TrialState.PRUNED)


def budget_counts(trials: Sequence[FrozenTrial]) -> tuple[int, int]:
    """(counted = COMPLETE + PRUNED, pending = counted + RUNNING) of a study's trials."""
    counted = sum(t.state in COUNTED for t in trials)
    return counted, counted + sum(t.state == TrialState.RUNNING for t in trials)


def is_surplus(study: optuna.Study, number: int, n_trials: int | None) -> bool:
    """Whether trial ``number`` comes after ``n_trials`` trials that count or may still count.

    Trial numbers are handed out atomically by the storage, so among racing
    workers exactly the ones numbered past the budget are surplus.
    """
    if n_trials is None:
        return False
    before = sum(1 for t in study.get_trials(deepcopy=False)
                 if t.number < number and t.state in (*COUNTED, TrialState.RUNNING))
    return before >= n_trials


def guarded(objective: Callable[[optuna.Trial], Any], study: optuna.Study, *, n_trials: int | None = None,
            trial_timeout: float | None = None,
            heartbeat_interval: float = HEARTBEAT_INTERVAL) -> Callable[[optuna.Trial], Any]:
    """Wrap a trial objective: owner mark, surplus check, heartbeat, deadline, reason on failure.

    The wrapped objective raises :class:`SurplusTrial` (closed as FAIL) when the
    trial budget ``n_trials`` was reached by other workers; any other exception
    except ``optuna.TrialPruned`` leaves its one-line reason in ``fail_reason``.
    """

    def run(trial: optuna.Trial) -> Any:
        mark_owner(trial)
        if is_surplus(study, trial.number, n_trials):
            trial.set_user_attr(FAIL_REASON, f"surplus: the budget of {n_trials} trials was reached by other workers")
            raise SurplusTrial
        if trial_timeout:
            trial.set_user_attr(TIMEOUT, float(trial_timeout))
            trial.set_user_attr(DEADLINE, time.time() + trial_timeout)
        try:
            with Heartbeat(study, trial, heartbeat_interval), trial_deadline(trial_timeout):
                return objective(trial)
        except optuna.TrialPruned:
            raise
        except BaseException as exc:
            if FAIL_REASON not in trial.user_attrs:
                with contextlib.suppress(Exception):
                    trial.set_user_attr(FAIL_REASON, one_line(exc))
            raise

    return run


def run_trials(study: optuna.Study, objective: Callable[[optuna.Trial], Any], *, n_trials: int | None = None,
               deadline: float | None = None, catch: tuple[type[Exception], ...] = (Exception,),
               trial_timeout: float | None = None, grace: float = GRACE_PERIOD,
               heartbeat_interval: float = HEARTBEAT_INTERVAL, poll: float = 0.25,
               max_failures: int | None = None) -> int:
    """One worker's loop: run trials until the study has ``n_trials`` counted trials or ``deadline`` passes.

    Args:
        study: The shared study (any storage).
        objective: The trial objective (wrapped by :func:`guarded`).
        n_trials: Trial budget of the whole study (COMPLETE + PRUNED, all workers); None: time only.
        deadline: Absolute ``time.time()`` after which no trial starts; None: trials only.
        catch: Exceptions that end a trial as FAIL without stopping the worker (plus surplus and timeouts).
        trial_timeout: Seconds one trial may run (``--trial-timeout``).
        grace: Heartbeat age after which another machine's trial counts as lost.
        heartbeat_interval: Seconds between heartbeat stamps (storages without Optuna's heartbeat).
        poll: Seconds to wait while the remaining budget is held by other workers' running trials.
        max_failures: Stop after this many failed trials in a row by this worker (a search where
            every configuration fails would otherwise never end); default ``max(10, n_trials)``.

    Returns:
        The number of trials this worker started.
    """
    if n_trials is None and deadline is None:
        raise ValueError("run_trials needs n_trials or deadline")
    own_new_trials(study)
    fn = guarded(objective, study, n_trials=n_trials, trial_timeout=trial_timeout,
                 heartbeat_interval=heartbeat_interval)
    started = 0
    catch = (*catch, SurplusTrial, TrialTimeoutError)
    limit = max_failures if max_failures is not None else max(10, n_trials or 0)
    streak = [0]

    def count(_study: optuna.Study, frozen: FrozenTrial) -> None:
        surplus = str(frozen.user_attrs.get(FAIL_REASON, "")).startswith("surplus")
        streak[0] = streak[0] + 1 if frozen.state == TrialState.FAIL and not surplus else 0

    while deadline is None or time.time() < deadline:
        trials = study.get_trials(deepcopy=False)
        running = [t for t in trials if t.state == TrialState.RUNNING]
        if fail_dead_trials(study, running) or fail_stale_trials(study, grace, running):
            continue
        counted, pending = budget_counts(trials)
        if n_trials is not None and counted >= n_trials:
            break
        if n_trials is not None and pending >= n_trials:  # the rest is running elsewhere: wait for it
            time.sleep(poll)
            continue
        timeout = None if deadline is None else max(0.0, deadline - time.time())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.optimize(fn, n_trials=1, catch=catch, timeout=timeout, gc_after_trial=False, callbacks=[count])
        started += 1
        if streak[0] >= limit:
            optuna.logging.get_logger("warmstart").warning(
                "stopping this worker: %d trials in a row failed (see their fail_reason)", streak[0])
            break
    return started


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
