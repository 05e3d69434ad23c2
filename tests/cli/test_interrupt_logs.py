"""The logs a Ctrl-C causes are dropped, in-process: Optuna's and its storage's (SQLAlchemy's) tracebacks."""

from __future__ import annotations

import logging
import sys

from warmstart.cli._common import _DropInterruptLogs, quiet_optuna


def _record(exc: BaseException | None, msg: str = "Error closing cursor") -> logging.LogRecord:
    info = (type(exc), exc, None) if exc is not None else None
    return logging.LogRecord("sqlalchemy.pool", logging.ERROR, __file__, 1, msg, None, info)  # type: ignore[arg-type]


def test_a_record_raised_while_handling_a_ctrl_c_is_dropped_others_are_kept() -> None:
    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise RuntimeError("cannot close a cursor mid-fetch") from None  # context kept, cause suppressed
    except RuntimeError:
        during = sys.exc_info()[1]
    assert during is not None and isinstance(during.__context__, KeyboardInterrupt)
    drop = _DropInterruptLogs()
    assert drop.filter(_record(RuntimeError("disk full")))  # a real error: kept
    assert not drop.filter(_record(during))
    assert not drop.filter(_record(None, "Trial 3 failed with value None."))  # after a Ctrl-C: dropped
    assert _DropInterruptLogs().filter(_record(None, "Trial 3 failed with value None."))  # without one: kept


def test_quiet_optuna_gives_sqlalchemy_a_filtered_stderr_handler_once() -> None:
    quiet_optuna()
    quiet_optuna()
    handlers = logging.getLogger("sqlalchemy").handlers
    assert len(handlers) == 1 and [type(f) for f in handlers[0].filters] == [_DropInterruptLogs]
