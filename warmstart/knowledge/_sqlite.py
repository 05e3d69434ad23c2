"""SQLite settings for many workers on one knowledge-base file.

* ``journal_mode=WAL``: readers never block the writer and the writer never
  blocks readers; commits append to the write-ahead log (SQLite's documented
  mode for concurrent access; it needs a local disk, not a network file system:
  use a journal file or PostgreSQL there).
* ``synchronous=NORMAL``: in WAL mode still safe against application crashes
  (a killed worker loses nothing it committed), and far fewer fsyncs.
* ``busy_timeout``: a worker waits for the lock (up to 60 s) instead of failing
  with "database is locked".
* **Real transactions, write lock first** (``BEGIN IMMEDIATE``). Python's
  ``sqlite3`` driver opens a transaction only at the first write, so the read
  that decides a write ran outside it: two workers could both read a queued
  trial as WAITING and both set it RUNNING, running it twice (Optuna's
  ``_pop_waiting_trial_id`` relies on a ``SELECT ... FOR UPDATE`` that SQLite
  does not have). Here the driver's own transaction handling is switched off
  (SQLAlchemy's documented pysqlite recipe) and every transaction takes the
  write lock at ``BEGIN``, so a read-then-write runs as one step. Transactions
  are milliseconds long; a worker waits for the lock under ``busy_timeout``.
"""

from __future__ import annotations

from typing import Any

BUSY_TIMEOUT_MS = 60_000


def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # no implicit BEGIN by the driver: _on_begin opens each transaction
    cur = dbapi_connection.cursor()
    try:
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
    finally:
        cur.close()


def _on_begin(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def tune_sqlite(engine: Any) -> None:
    """Apply the settings above to every connection of a SQLAlchemy ``engine`` (current pool dropped)."""
    from sqlalchemy import event

    if not event.contains(engine, "connect", _on_connect):
        event.listen(engine, "connect", _on_connect)
    if not event.contains(engine, "begin", _on_begin):
        event.listen(engine, "begin", _on_begin)
    engine.dispose()
