"""Liveness of search trials: who runs each trial, and failing the trials of dead or silent workers.

* **Owner marks and dead workers.** Every trial records the worker that runs it
  (``worker`` = ``host:pid`` and ``worker_proc`` = boot id and process start
  time, so a reused pid is not mistaken for the owner). A RUNNING trial whose
  owner on *this* machine no longer exists (killed with SIGKILL, out of memory)
  is marked FAIL with a reason at once (:func:`fail_dead_trials`); a RUNNING trial
  of this very process found between its trials is failed too (:func:`fail_own_orphans`).
* **Heartbeats** for workers on other machines: Optuna's own heartbeat on RDB
  storages, a thread stamping the ``heartbeat`` user attribute elsewhere
  (:class:`Heartbeat`); :func:`fail_stale_trials` fails trials whose heartbeat is
  older than the grace period.

References: Optuna's distributed optimization and heartbeat (Akiba et al., KDD 2019).
"""

from __future__ import annotations

import contextlib
import datetime
import os
import socket
import threading
import time
import warnings
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

FAIL_REASON = "fail_reason"
WORKER = "worker"
WORKER_PROC = "worker_proc"
HEARTBEAT = "heartbeat"
DEADLINE = "deadline_at"
TIMEOUT = "trial_timeout"
HEARTBEAT_INTERVAL = 30.0
GRACE_PERIOD = 120.0
ORPHAN_GRACE = 60.0


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


def fail_own_orphans(study: optuna.Study, trials: Sequence[FrozenTrial] | None = None) -> list[int]:
    """Fail RUNNING trials owned by this very process; call it only between two of its trials.

    A worker runs one trial at a time, so between trials a RUNNING trial with its own
    owner mark was left behind: created twice when the storage connection broke during
    the write (see :mod:`warmstart.search.outage`), or not closed because the storage
    was away when it ended.
    """
    if trials is None:
        trials = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    me, proc = owner_id()
    failed = []
    for t in trials:
        if t.state == TrialState.RUNNING and t.user_attrs.get(WORKER) == me and t.user_attrs.get(WORKER_PROC) == proc:
            if fail_trial(study, t, f"worker {me} lost the storage connection while it created or ran this trial"):
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


def stop_orphaned_heartbeats() -> int:
    """Stop Optuna heartbeat threads that nothing will stop; return how many.

    ``study.optimize`` starts a trial's heartbeat thread (not a daemon) in the ``__enter__`` of a ``with``
    block and stops it in ``__exit__``. A Ctrl-C that lands after the thread started but before the block
    was entered skips ``__exit__``, and the interpreter then waits for the thread at exit forever (seen in
    ``tests/cli/test_interrupt.py``). Called as the CLI exits: the trial itself was already left RUNNING
    and is failed by the next run's stale-trial check, as any interrupted trial is.
    """
    try:
        from optuna.storages._heartbeat import HeartbeatThread
    except ImportError:  # pragma: no cover - another Optuna layout: nothing to stop
        return 0
    stopped = 0
    for thread in threading.enumerate():
        args: tuple[Any, ...] = tuple(getattr(thread, "_args", ()))
        stop = args[2] if len(args) == 3 else None
        if getattr(thread, "_target", None) is HeartbeatThread._record_heartbeat and isinstance(stop, threading.Event):
            stop.set()
            thread.join(timeout=5.0)
            stopped += 1
    return stopped
