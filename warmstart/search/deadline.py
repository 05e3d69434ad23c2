"""Trial deadlines (``--trial-timeout``): stop a trial that runs too long, with a clear reason.

In the main thread a ``SIGALRM`` timer interrupts Python code (deferred while an
Optuna storage call is in progress, so no transaction is torn, and while a module
is being imported, so no half-initialised module stays in ``sys.modules`` to break
every later trial; re-armed in case the interruption lands in a finalizer, where
Python swallows exceptions);
everywhere, an epoch-end training callback checks the deadline. A worker process
that still does not stop is killed by :func:`warmstart.search.faults.supervise`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

from torch import nn

from warmstart.engine.callbacks import Callback, extra_callbacks
from warmstart.errors import TrialTimeoutError

_STORAGE_FRAMES = (f"{os.sep}optuna{os.sep}storages{os.sep}", f"{os.sep}optuna{os.sep}artifacts{os.sep}",
                   f"{os.sep}sqlalchemy{os.sep}",
                   f"{os.sep}psycopg2{os.sep}", f"{os.sep}sqlite3{os.sep}")


class DeadlineCallback(Callback):
    """Raise :class:`TrialTimeoutError` at the end of an epoch once the deadline has passed."""

    def __init__(self, deadline: float, seconds: float) -> None:
        self.deadline, self.seconds = deadline, seconds

    def on_epoch_end(self, epoch: int, logs: dict[str, Any], model: nn.Module) -> None:
        if time.monotonic() >= self.deadline:
            raise TrialTimeoutError(timeout_message(self.seconds, f"after epoch {epoch}"))


def timeout_message(seconds: float, where: str = "") -> str:
    """The one-line reason of a trial stopped by ``--trial-timeout``."""
    return f"trial exceeded --trial-timeout of {seconds:g} s" + (f" ({where})" if where else "")


#: the import machinery's frames: an import interrupted midway leaves its package half-initialised in ``sys.modules``
#: (torch imports ``torch._dynamo`` and sympy lazily, inside the first optimizer a trial builds: cut there, sympy
#: stayed without its ``logic`` submodule and every later trial of the process failed at once)
_IMPORT_FRAMES = ("<frozen importlib._bootstrap>", "<frozen importlib._bootstrap_external>")


def _must_not_be_interrupted(frame: Any) -> bool:
    """Whether ``frame`` is inside a storage call or an import, where the alarm must wait."""
    while frame is not None:
        name = frame.f_code.co_filename
        if name in _IMPORT_FRAMES or any(part in name for part in _STORAGE_FRAMES):
            return True
        frame = frame.f_back
    return False


@contextlib.contextmanager
def trial_deadline(seconds: float | None) -> Iterator[None]:
    """Stop the enclosed trial with :class:`TrialTimeoutError` after ``seconds``.

    In the main thread a ``SIGALRM`` timer interrupts Python code (also a hung
    ``sleep`` or a slow epoch); while a storage call or an import is in progress
    the interruption waits until it returns. Everywhere, an epoch-end callback added
    to every Trainer in the block checks the deadline. ``None`` or 0: no limit.
    """
    if not seconds:
        yield
        return
    deadline = time.monotonic() + seconds
    use_signal = (threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
                  and signal.getitimer(signal.ITIMER_REAL)[0] == 0.0)
    old: Any = None
    if use_signal:
        def on_alarm(signum: int, frame: Any) -> None:
            if _must_not_be_interrupted(frame):
                signal.setitimer(signal.ITIMER_REAL, 0.05)
                return
            # re-arm: an exception raised inside a finalizer is swallowed by Python, so try again shortly
            signal.setitimer(signal.ITIMER_REAL, 0.2)
            raise TrialTimeoutError(timeout_message(seconds))

        old = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        with extra_callbacks(DeadlineCallback(deadline, seconds)):
            yield
    finally:
        if use_signal:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
