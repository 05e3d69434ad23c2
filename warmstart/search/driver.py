"""The one study driver: every search (``tune``, ``auto``, and NAS) runs its trials through :func:`drive`.

Given a study and an objective, one worker runs trials until the budget is spent,
in one loop that holds every rule a search needs:

* **Budget** (:mod:`warmstart.search.budget`): ``n_trials`` counted trials
  (COMPLETE + PRUNED, all workers of the study together) and/or a ``deadline``
  after which no trial starts, and/or an ``admit`` hook asked before each trial
  (``auto``'s clock: the next trial must fit before the winner's retraining).
* **Surplus rule** (:func:`warmstart.search.budget.is_surplus`, one definition):
  workers racing for the last trials never make the study count more than
  ``n_trials``; a surplus trial is closed as FAIL (``fail_reason`` "surplus: ...")
  before it trains. While the rest of the budget is held by other workers' running
  trials, the worker waits for them instead of starting more.
* **Pruning**: the study's pruner; ``optuna.TrialPruned`` ends a trial as PRUNED
  (the objective reports through :class:`~warmstart.search.pruning.PruningCallback`).
  :func:`make_pruner` builds the pruners by name.
* **Failure policy**: any exception in ``catch`` (plus timeouts and surplus) ends
  its trial as FAIL with a one-line ``fail_reason`` user attribute and the search
  goes on; after ``max_failures`` failed trials in a row in this worker, the driver
  stops with :class:`~warmstart.errors.SearchFailedError` naming the last reasons.
* **Liveness** (:mod:`warmstart.search.liveness`): each trial carries its owner
  (host, pid, process start time) from the write that creates it; before each
  trial, RUNNING trials whose owner on this machine is dead, whose heartbeat is
  older than the grace period (other machines), or that this very process left
  behind, are failed with the reason — and re-queued once with the same
  parameters (``retry_lost``), so a killed worker's configuration is not lost.
* **Trial timeouts** (:mod:`warmstart.search.deadline`): ``trial_timeout`` seconds
  per trial, then :class:`~warmstart.errors.TrialTimeoutError` (a FAIL with the reason).
* **Storage outages** (:mod:`warmstart.search.outage`): the study's storage is put
  behind a wrapper that retries calls while the database is away (bounded by
  ``storage_wait`` seconds), so workers wait for a restarting server instead of dying.
* **Callbacks**: Optuna study callbacks (e.g. tracking,
  :func:`warmstart.engine.tracking.study_callbacks`), called after every trial; an
  MLflow callback also gets each trial's training logs
  (:func:`~warmstart.engine.tracking.track_objective`).

What Optuna's own mechanisms do here, and what they could not replace:

* **Heartbeat** — ``RDBStorage(heartbeat_interval=..., grace_period=...)`` (set by
  :func:`warmstart.knowledge.open_storage`): Optuna's heartbeat thread, started by
  ``study.optimize``, is the heartbeat of every RDB study (SQLite, PostgreSQL);
  the hand-written stamping thread (:class:`~warmstart.search.liveness.Heartbeat`)
  remains only for journal files, whose storage has no heartbeat in Optuna.
* **Stale trials** — staleness on RDB storages is Optuna's own record
  (``_get_stale_trial_ids``, the query ``optuna.storages.fail_stale_trials`` runs).
  ``fail_stale_trials`` itself could not be called as is: it fails trials without a
  reason, and the driver must write ``fail_reason``; so the driver fails the same
  trials itself first (Optuna's call inside ``study.optimize`` then finds none).
* **Dead workers** — Optuna knows only heartbeats, so a trial of a worker killed on
  this machine would stay RUNNING for the whole grace period (120 s) and block a
  restarted command's budget; the owner marks fail it at once. Kept.
* **Retries** — ``RetryHeartbeatStaleTrialCallback`` (Optuna 5's name for
  ``RetryFailedTrialCallback``) re-queues a lost trial; the driver calls it for
  every trial it fails as lost (dead, stale or orphaned), with the trial's
  liveness attributes dropped so the retry does not inherit a dead owner.
* **Trial timeouts** — Optuna's ``timeout`` bounds a whole ``optimize`` call and
  never stops a running trial, so ``--trial-timeout`` keeps its ``SIGALRM`` timer
  and epoch-end check, and the process supervisor for native code
  (:func:`warmstart.search.faults.supervise`).
* **Budget** — ``MaxTrialsCallback`` stops a worker after N trials, but racing
  workers still overshoot it; the surplus rule cannot be expressed as a callback
  (it must run inside the trial, after its number is known). Kept.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from warmstart.errors import ConfigError, SearchFailedError, TrialTimeoutError
from warmstart.search.budget import COUNTED, is_surplus
from warmstart.search.deadline import trial_deadline
from warmstart.search.liveness import (
    DEADLINE,
    FAIL_REASON,
    GRACE_PERIOD,
    HEARTBEAT,
    HEARTBEAT_INTERVAL,
    TIMEOUT,
    WORKER,
    WORKER_PROC,
    Heartbeat,
    fail_dead_trials,
    fail_own_orphans,
    fail_stale_trials,
    mark_owner,
    one_line,
    own_new_trials,
)
from warmstart.search.outage import STORAGE_WAIT, resilient

_log = logging.getLogger("warmstart.search")

PRUNERS = ("hyperband", "sha", "none")
#: failed trials in a row (in one worker) after which a search stops with an error
MAX_FAILURES = 10
_LIVENESS_ATTRS = (WORKER, WORKER_PROC, HEARTBEAT, DEADLINE, TIMEOUT, FAIL_REASON)


class SurplusTrial(Exception):
    """This trial would exceed the trial budget: other workers got there first (it never trains)."""


@dataclass
class DriveReport:
    """What one worker's :func:`drive` did.

    Attributes:
        started: Trials this worker started (surplus ones included).
        stopped: Why it stopped: ``budget`` (counted trials reached), ``deadline``, ``admit``
            (the admission hook said no).
        lost: Numbers of other workers' trials it failed as lost (dead, stale or orphaned).
        retried: Numbers of the trials it re-queued for them.
        overtaken: Numbers of its own trials that another worker had already marked failed
            (their heartbeat looked stale) when this worker reported them: the value was dropped,
            and the re-queued copy runs them again.
    """

    started: int = 0
    stopped: str = ""
    lost: list[int] = field(default_factory=list)
    retried: list[int] = field(default_factory=list)
    overtaken: list[int] = field(default_factory=list)


def make_pruner(name: str) -> optuna.pruners.BasePruner:
    """Optuna's Hyperband (``hyperband``), successive halving (``sha``), or no pruning (``none``).

    Raises:
        ConfigError: another name.
    """
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1)
    if name == "sha":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ConfigError(f"unknown pruner {name!r}; valid pruners: {', '.join(PRUNERS)}")


def _guard(objective: Callable[[optuna.Trial], Any], study: optuna.Study, n_trials: int | None,
           trial_timeout: float | None, heartbeat_interval: float) -> Callable[[optuna.Trial], Any]:
    """The objective with owner mark, surplus rule, heartbeat, deadline and ``fail_reason`` around it."""

    def run(trial: optuna.Trial) -> Any:
        mark_owner(trial)
        if is_surplus(study.get_trials(deepcopy=False), trial.number, n_trials):
            trial.set_user_attr(FAIL_REASON, f"surplus: the budget of {n_trials} trials was reached by other workers")
            raise SurplusTrial
        if trial_timeout:
            trial.set_user_attr(TIMEOUT, float(trial_timeout))
            trial.set_user_attr(DEADLINE, time.time() + trial_timeout)
        try:
            with Heartbeat(study, trial, heartbeat_interval), trial_deadline(trial_timeout):
                value = objective(trial)
            values = value if isinstance(value, (list, tuple)) else [value]
            if any(isinstance(v, float) and not math.isfinite(v) for v in values):  # Optuna fails it; say why
                trial.set_user_attr(FAIL_REASON, f"the objective returned {value!r}, not a finite score")
            return value
        except optuna.TrialPruned:
            raise
        except BaseException as exc:
            if FAIL_REASON not in trial.user_attrs:
                with contextlib.suppress(Exception):
                    trial.set_user_attr(FAIL_REASON, one_line(exc))
            raise

    return run


def _told_too_late(exc: BaseException) -> str | None:
    """Optuna's complaint, when ``exc`` says the trial was finished by someone else before it was told.

    Optuna raises ``UpdateFinishedTrialError`` (RDB storages), or ``ValueError("Cannot tell a FAIL
    trial.")``, which its ``_run_trial`` then covers with an ``AssertionError``; so the chain is read.
    """
    seen: BaseException | None = exc
    for _ in range(4):
        if seen is None:
            return None
        if isinstance(seen, optuna.exceptions.UpdateFinishedTrialError) or \
                (isinstance(seen, ValueError) and str(seen).startswith("Cannot tell a ")):
            return one_line(seen)
        seen = seen.__cause__ or seen.__context__
    return None


def retry_lost(study: optuna.Study, numbers: Sequence[int], max_retry: int) -> list[int]:
    """Re-queue the lost trials ``numbers`` with their parameters (Optuna's retry callback); return new numbers.

    A trial already retried ``max_retry`` times is not queued again.
    """
    if not numbers or max_retry < 1:
        return []
    from optuna.storages import RetryHeartbeatStaleTrialCallback

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retry = RetryHeartbeatStaleTrialCallback(max_retry=max_retry)
    before = {t.number for t in study.get_trials(deepcopy=False)}
    wanted = set(numbers)
    for t in study.get_trials(deepcopy=True):
        if t.number in wanted and t.state == TrialState.FAIL:
            clean = copy.deepcopy(t)
            clean.user_attrs = {k: v for k, v in t.user_attrs.items() if k not in _LIVENESS_ATTRS}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                retry(study, clean)
    return sorted({t.number for t in study.get_trials(deepcopy=False)} - before)


def drive(study: optuna.Study, objective: Callable[[optuna.Trial], Any], *, n_trials: int | None = None,
          deadline: float | None = None, admit: Callable[[], bool] | None = None,
          catch: tuple[type[Exception], ...] = (Exception,), trial_timeout: float | None = None,
          max_failures: int | None = MAX_FAILURES, retry: int = 1,
          callbacks: Sequence[Callable[[optuna.Study, FrozenTrial], None]] = (),
          grace: float = GRACE_PERIOD, heartbeat_interval: float = HEARTBEAT_INTERVAL, poll: float = 0.25,
          storage_wait: float = STORAGE_WAIT) -> DriveReport:
    """Run one worker's trials on ``study`` until the budget is spent (see the module docstring).

    Several workers (processes, machines) may drive the same study at once.

    Args:
        study: The study (any storage; its sampler and pruner are used as they are).
        objective: ``trial -> value`` (or values, for a multi-objective study).
        n_trials: Trial budget of the whole study (COMPLETE + PRUNED, all workers); None: no count.
        deadline: Absolute ``time.time()`` after which no trial starts; None: none.
        admit: Asked before each trial; False ends this worker (e.g. no time left for another trial).
        catch: Exceptions that end a trial as FAIL without stopping the search (surplus and
            :class:`~warmstart.errors.TrialTimeoutError` are always caught).
        trial_timeout: Seconds one trial may run; None: no limit.
        max_failures: Stop with :class:`SearchFailedError` after this many failed trials in a
            row (surplus trials aside); None: never.
        retry: Times a trial lost with its worker is re-queued with the same parameters (0: never).
        callbacks: Optuna study callbacks, called after each trial.
        grace: Heartbeat age (seconds) after which another machine's trial counts as lost
            (RDB storages use their own ``grace_period``).
        heartbeat_interval: Seconds between heartbeats on storages without Optuna's heartbeat.
        poll: Seconds to wait while the rest of the budget is running in other workers.
        storage_wait: Longest wait (seconds) of one storage call for a lost database to come back.

    Returns:
        What this worker did.

    Raises:
        ConfigError: no budget at all (neither ``n_trials``, ``deadline`` nor ``admit``).
        SearchFailedError: ``max_failures`` failed trials in a row.
        StorageError: the storage stayed unreachable longer than ``storage_wait``.
    """
    if n_trials is None and deadline is None and admit is None:
        raise ConfigError("a search needs a budget: a number of trials or a time limit")
    from warmstart.engine.tracking import track_objective

    study._storage = resilient(study._storage, storage_wait)
    own_new_trials(study)
    fn = track_objective(list(callbacks), _guard(objective, study, n_trials, trial_timeout, heartbeat_interval))
    catch = (*catch, SurplusTrial, TrialTimeoutError)
    streak: list[FrozenTrial] = []

    def count(_study: optuna.Study, frozen: FrozenTrial) -> None:
        surplus = str(frozen.user_attrs.get(FAIL_REASON, "")).startswith("surplus")
        if frozen.state == TrialState.FAIL and not surplus:
            streak.append(frozen)
        elif not surplus:
            streak.clear()

    current: list[int] = []  # the number of the trial in progress, for a report that fails

    def tracked(trial: optuna.Trial) -> Any:
        current[:] = [trial.number]
        return fn(trial)

    report = DriveReport()
    while True:
        if deadline is not None and time.time() >= deadline:
            report.stopped = "deadline"
            break
        trials = study.get_trials(deepcopy=False)
        running = [t for t in trials if t.state == TrialState.RUNNING]
        lost = fail_dead_trials(study, running) + fail_stale_trials(study, grace, running) + \
            fail_own_orphans(study, running)
        if lost:
            report.lost += lost
            report.retried += retry_lost(study, lost, retry)
            continue
        counted = sum(t.state in COUNTED for t in trials)
        if n_trials is not None and counted >= n_trials:
            report.stopped = "budget"
            break
        if n_trials is not None and counted + len(running) >= n_trials:  # the rest runs elsewhere: wait for it
            time.sleep(poll)
            continue
        if admit is not None and not admit():
            report.stopped = "admit"
            break
        timeout = None if deadline is None else max(0.0, deadline - time.time())
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                study.optimize(tracked, n_trials=1, catch=catch, timeout=timeout, gc_after_trial=False,
                               callbacks=[count, *callbacks])
        except Exception as exc:
            why = _told_too_late(exc)
            if why is None:
                raise
            report.overtaken += current  # failed as stale by another worker meanwhile
            _log.warning("trial %s was marked failed by another worker before this one reported it (%s); "
                         "its re-queued copy runs it again", current[0] if current else "?", why)
        report.started += 1
        if max_failures is not None and len(streak) >= max_failures:
            reasons = list(dict.fromkeys(str(t.user_attrs.get(FAIL_REASON, "unknown")) for t in streak[::-1]))
            raise SearchFailedError(f"{len(streak)} trials in a row failed, so the search stopped; last "
                                    f"reason{'s' if len(reasons) > 1 else ''}: {'; '.join(reasons[:3])}")
    return report
