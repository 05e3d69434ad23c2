"""Fault handling for searches: killed workers, hung and diverging trials, budget races.

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
import datetime
import os
import socket
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from warmstart.errors import TrialTimeoutError
from warmstart.search.deadline import DeadlineCallback, timeout_message, trial_deadline  # noqa: F401 (re-exported)

FAIL_REASON = "fail_reason"
WORKER = "worker"
WORKER_PROC = "worker_proc"
HEARTBEAT = "heartbeat"
DEADLINE = "deadline_at"
TIMEOUT = "trial_timeout"
HEARTBEAT_INTERVAL = 30.0
GRACE_PERIOD = 120.0
ORPHAN_GRACE = 60.0
SUPERVISOR_KILLED = -9


class SurplusTrial(Exception):
    """This trial would exceed the trial budget: other workers got there first (it never trains)."""


def one_line(exc: BaseException) -> str:
    """``Type: first line of the message`` for a ``fail_reason``."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


# --------------------------------------------------------------------------- owners
@lru_cache(maxsize=1)
def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as fh:
            return fh.read().strip()
    except OSError:
        return "-"


def _start_ticks(pid: int) -> str | None:
    """The start time of process ``pid`` in clock ticks since boot (Linux), None if unknown or gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            stat = fh.read()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()
    return fields[19] if len(fields) > 19 else None


def owner_id() -> tuple[str, str]:
    """(``host:pid``, ``boot_id:start_ticks``) of this process."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}", f"{_boot_id()}:{_start_ticks(pid) or '-'}"


def mark_owner(trial: optuna.Trial) -> None:
    """Record this process as the worker running ``trial``."""
    worker, proc = owner_id()
    trial.set_user_attr(WORKER, worker)
    trial.set_user_attr(WORKER_PROC, proc)


def owner_is_dead(attrs: dict[str, Any]) -> bool:
    """Whether the worker recorded in a trial's user attributes is known to be gone.

    Only workers on this machine can be judged (same host name and boot id); for
    the others this returns False and the heartbeat decides.
    """
    worker, proc = attrs.get(WORKER), attrs.get(WORKER_PROC)
    if not isinstance(worker, str) or ":" not in worker:
        return False
    host, _, pid_s = worker.rpartition(":")
    if host != socket.gethostname() or not pid_s.isdigit():
        return False
    boot, _, ticks = str(proc or "-:-").partition(":")
    if boot not in ("-", _boot_id()):
        return False  # recorded before a reboot of this machine: the owner is certainly gone
    pid = int(pid_s)
    if pid == os.getpid():
        return False
    now = _start_ticks(pid)
    if now is None:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False
    return ticks not in ("-", "") and now != ticks  # the pid was reused by another process


def own_new_trials(study: optuna.Study) -> None:
    """Make ``study`` create each new trial with this worker's owner mark in the same storage write.

    Without it a worker killed between the creation of a trial and its first
    attribute write would leave a RUNNING trial nobody can judge. (Trials popped
    from the WAITING queue are marked right after; :func:`fail_dead_trials` gives
    an unmarked RUNNING trial :data:`ORPHAN_GRACE` seconds.)
    """
    st = study._storage
    if getattr(st, "_warmstart_owned", False):
        return
    original = st.create_new_trial

    def create_new_trial(study_id: int, template_trial: FrozenTrial | None = None) -> int:
        if template_trial is None:
            worker, proc = owner_id()
            template_trial = FrozenTrial(
                number=-1, state=TrialState.RUNNING, value=None, datetime_start=datetime.datetime.now(),
                datetime_complete=None, params={}, distributions={}, user_attrs={WORKER: worker, WORKER_PROC: proc},
                system_attrs={}, intermediate_values={}, trial_id=-1)
        return original(study_id, template_trial)

    st.create_new_trial = create_new_trial  # type: ignore[method-assign]
    st._warmstart_owned = True  # type: ignore[attr-defined]


def fail_trial(study: optuna.Study, trial: FrozenTrial, reason: str) -> bool:
    """Mark a RUNNING trial of another worker FAIL with ``reason``; False if it had finished meanwhile."""
    storage = study._storage
    try:
        storage.set_trial_user_attr(trial._trial_id, FAIL_REASON, reason)
        return bool(storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL))
    except optuna.exceptions.UpdateFinishedTrialError:
        return False


def fail_dead_trials(study: optuna.Study, trials: Sequence[FrozenTrial] | None = None) -> list[int]:
    """Fail RUNNING trials whose worker on this machine is gone; return their numbers."""
    if trials is None:
        trials = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    failed = []
    now = datetime.datetime.now()
    for t in trials:
        if t.state != TrialState.RUNNING:
            continue
        if owner_is_dead(t.user_attrs):
            why = f"worker {t.user_attrs.get(WORKER)} died during the trial (killed or crashed)"
        elif WORKER not in t.user_attrs and t.datetime_start is not None and \
                (now - t.datetime_start).total_seconds() > ORPHAN_GRACE:
            why = f"no worker took the trial within {ORPHAN_GRACE:g} s of its start (killed while starting it)"
        else:
            continue
        if fail_trial(study, t, why):
            failed.append(t.number)
    return failed


# --------------------------------------------------------------------------- heartbeats
def _optuna_heartbeat(study: optuna.Study) -> bool:
    from optuna.storages._heartbeat import BaseHeartbeat, is_heartbeat_enabled

    st = study._storage
    return isinstance(st, BaseHeartbeat) and is_heartbeat_enabled(st)


class Heartbeat:
    """A daemon thread stamping ``trial``'s ``heartbeat`` attribute every ``interval`` seconds.

    Only for storages without Optuna's own heartbeat; a no-op for the others.
    """

    def __init__(self, study: optuna.Study, trial: optuna.Trial, interval: float = HEARTBEAT_INTERVAL) -> None:
        self.study, self.trial, self.interval = study, trial, interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Heartbeat:
        if _optuna_heartbeat(self.study):
            return self
        self.beat()
        self._thread = threading.Thread(target=self._run, name="warmstart-heartbeat", daemon=True)
        self._thread.start()
        return self

    def beat(self) -> None:
        """Stamp the trial now."""
        with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
            self.study._storage.set_trial_user_attr(self.trial._trial_id, HEARTBEAT, time.time())

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.beat()
            except Exception:  # a lost stamp is harmless; the next one may get through
                continue

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


def fail_stale_trials(study: optuna.Study, grace: float = GRACE_PERIOD,
                      trials: Sequence[FrozenTrial] | None = None) -> list[int]:
    """Fail RUNNING trials whose heartbeat is older than ``grace`` seconds; return their numbers.

    RDB storages with a heartbeat: Optuna's record of it; other storages: the
    ``heartbeat`` attribute of :class:`Heartbeat` (trials without one are left alone).
    """
    reason = f"no heartbeat for {grace:g} s: the worker was killed or lost"
    failed = []
    if _optuna_heartbeat(study):
        st = study._storage
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ids = set(st._get_stale_trial_ids(study._study_id))  # type: ignore[attr-defined]
        backend = getattr(st, "_backend", st)
        grace = float(getattr(backend, "grace_period", None) or grace)
        reason = f"no heartbeat for {grace:g} s: the worker was killed or lost"
        if not ids:
            return []
        trials = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        for t in trials:
            if t._trial_id in ids and fail_trial(study, t, reason):
                failed.append(t.number)
        return failed
    if trials is None:
        trials = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    now = time.time()
    for t in trials:
        stamp = t.user_attrs.get(HEARTBEAT)
        if t.state == TrialState.RUNNING and isinstance(stamp, (int, float)) and now - stamp > grace:
            if fail_trial(study, t, reason):
                failed.append(t.number)
    return failed



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
