"""SQLite settings for many workers on one knowledge-base file.

* ``journal_mode=WAL``: readers never block the writer and the writer never
  blocks readers; commits append to the write-ahead log (SQLite's documented
  mode for concurrent access; it needs a local disk, not a network file system:
  use a journal file or PostgreSQL there).
* ``synchronous=NORMAL``: in WAL mode still safe against application crashes
  (a killed worker loses nothing it committed), and far fewer fsyncs.
* ``busy_timeout``: a worker waits for the lock (up to 60 s) instead of failing
  with "database is locked".
"""

from __future__ import annotations

from typing import Any

BUSY_TIMEOUT_MS = 60_000


def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    try:
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
    finally:
        cur.close()


def tune_sqlite(engine: Any) -> None:
    """Apply the settings above to every connection of a SQLAlchemy ``engine`` (current pool dropped)."""
    from sqlalchemy import event

    if not event.contains(engine, "connect", _on_connect):
        event.listen(engine, "connect", _on_connect)
    engine.dispose()
