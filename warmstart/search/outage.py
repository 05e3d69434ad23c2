"""Riding out a storage outage: every storage call of a search retried while the database is away.

A search on a shared PostgreSQL server must survive the server restarting. The
study driver (:mod:`warmstart.search.driver`) puts its study's storage behind
:func:`resilient`: a call that fails because the connection was lost (SQLAlchemy
``OperationalError`` / ``InterfaceError``, a DBAPI error that invalidated its
connection, or Optuna's ``StorageInternalError`` wrapping one of them) is retried
with growing pauses, for at most ``wait`` seconds in all; then
:class:`~warmstart.errors.StorageError` is raised. Optuna's ``RDBStorage`` runs
each call in its own transaction and rolls it back on error, so a retried call
applies once. The single exception is a write whose commit reached the server
but whose reply was lost: a repeated "finish this trial" is recognised (the trial
already holds that state and value) and a repeated "create a trial" leaves an
extra trial owned by this worker, which the driver fails between trials
(:func:`warmstart.search.liveness.fail_own_orphans`).

Optuna has no such retry: its storages raise on the first lost connection, and its
heartbeat thread dies with it (this wrapper keeps it beating once the server is back).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.storages._heartbeat import BaseHeartbeat
from optuna.trial import TrialState

from warmstart.errors import StorageError

#: longest total wait of one storage call for the server to come back (seconds)
STORAGE_WAIT = 120.0


def is_outage(exc: BaseException) -> bool:
    """Whether ``exc`` means the storage connection was lost (worth retrying), not a bad request."""
    try:
        from sqlalchemy import exc as sa
    except ImportError:  # pragma: no cover - optuna depends on SQLAlchemy
        return False
    seen: BaseException | None = exc
    for _ in range(5):  # Optuna wraps a failed commit in StorageInternalError: look at its cause too
        if seen is None:
            return False
        if isinstance(seen, (sa.OperationalError, sa.InterfaceError)):
            return True
        if isinstance(seen, sa.DBAPIError) and bool(getattr(seen, "connection_invalidated", False)):
            return True
        if not isinstance(seen, optuna.exceptions.StorageInternalError):
            return False
        seen = seen.__cause__
    return False


class ResilientStorage(BaseStorage):
    """An Optuna storage that forwards every call to ``inner``, retrying it through outages.

    Attributes other than the storage interface (``engine``, ``_backend`` ...) are read
    from ``inner``.
    """

    def __init__(self, inner: BaseStorage, wait: float = STORAGE_WAIT,
                 on_outage: Callable[[str, BaseException], None] | None = None) -> None:
        self._inner, self._wait, self._on_outage = inner, wait, on_outage
        self.outages = 0

    @property
    def inner(self) -> BaseStorage:
        """The wrapped storage."""
        return self._inner

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("_inner", "_wait", "_on_outage"):
            raise AttributeError(name)
        return getattr(self._inner, name)

    def _call(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        fn = getattr(self._inner, name)
        give_up = time.monotonic() + self._wait
        pause, attempt = 0.25, 0
        while True:
            try:
                return fn(*args, **kwargs)
            except optuna.exceptions.UpdateFinishedTrialError:
                if attempt and name == "set_trial_state_values" and self._already_applied(args, kwargs):
                    return True  # the first attempt committed; its reply was lost with the connection
                raise
            except Exception as exc:
                if not is_outage(exc):
                    raise
                self.outages += 1
                if self._on_outage is not None:
                    self._on_outage(name, exc)
                if time.monotonic() + pause > give_up:
                    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                    raise StorageError(f"the storage was unreachable for {self._wait:g} s ({name}: {first}); "
                                       "finished trials are kept, run the same command again to continue") from None
                time.sleep(pause)
                pause = min(2 * pause, 5.0)
                attempt += 1

    def _already_applied(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        trial_id = args[0] if args else kwargs["trial_id"]
        state = args[1] if len(args) > 1 else kwargs.get("state")
        values = args[2] if len(args) > 2 else kwargs.get("values")
        t = self._inner.get_trial(trial_id)
        return t.state == state and (values is None or state != TrialState.COMPLETE or list(t.values or []) ==
                                     list(values))


class _ResilientHeartbeatStorage(ResilientStorage, BaseHeartbeat):
    """:class:`ResilientStorage` of a storage with Optuna's heartbeat (RDB storages)."""


def _forward(name: str) -> Callable[..., Any]:
    def method(self: ResilientStorage, *args: Any, **kwargs: Any) -> Any:
        return self._call(name, args, kwargs)

    method.__name__ = name
    return method


for _cls, _bases in ((ResilientStorage, (BaseStorage,)), (_ResilientHeartbeatStorage, (BaseHeartbeat,))):
    for _name in sorted({n for b in _bases for n in dir(b) if not n.startswith("__") and callable(getattr(b, n))}):
        if _name != "_call":
            setattr(_cls, _name, _forward(_name))
    _cls.__abstractmethods__ = frozenset()  # every method is forwarded


def resilient(storage: BaseStorage, wait: float = STORAGE_WAIT,
              on_outage: Callable[[str, BaseException], None] | None = None) -> BaseStorage:
    """``storage`` behind a :class:`ResilientStorage` (returned as is when it already is one, or in memory)."""
    if isinstance(storage, ResilientStorage) or isinstance(storage, optuna.storages.InMemoryStorage):
        return storage
    cls = _ResilientHeartbeatStorage if isinstance(storage, BaseHeartbeat) else ResilientStorage
    return cls(storage, wait, on_outage)  # type: ignore[abstract]  # every method is forwarded
