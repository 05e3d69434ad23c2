"""warmstart.search.liveness: what keeps an interrupted process from exiting."""

from __future__ import annotations

import threading

from optuna.storages._heartbeat import HeartbeatThread

from warmstart.search.liveness import stop_orphaned_heartbeats


def test_an_orphaned_optuna_heartbeat_thread_is_stopped() -> None:
    """A Ctrl-C between the heartbeat thread's start and optuna's ``with`` block leaves it running forever."""
    class Beat:
        beats = 0

        def get_heartbeat_interval(self) -> int:
            return 60

        def record_heartbeat(self, trial_id: int) -> None:
            Beat.beats += 1

    orphan = HeartbeatThread(0, Beat())  # type: ignore[arg-type]
    orphan.start()  # and never joined, as after the interrupted __enter__
    assert any(t.is_alive() for t in threading.enumerate() if t is orphan._thread)
    assert stop_orphaned_heartbeats() == 1
    assert orphan._thread is not None and not orphan._thread.is_alive() and Beat.beats >= 1
    assert stop_orphaned_heartbeats() == 0
