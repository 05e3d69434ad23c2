"""The one place that turns ``None | URL | Storage`` into an Optuna storage.

Accepted forms:

* ``None``: ``$WARMSTART_STORAGE`` if set, else the SQLite file
  ``$WARMSTART_CACHE/knowledge.db`` (default ``~/.cache/warmstart/knowledge.db``).
* A SQLAlchemy URL: ``sqlite:///path/kb.db``, ``postgresql://user:pw@host/db``,
  ``mysql+pymysql://...`` (an :class:`optuna.storages.RDBStorage`, with a
  heartbeat so a killed worker's trial is marked failed).
* ``journal:PATH`` or a path ending in ``.log`` / ``.journal``: Optuna's
  :class:`~optuna.storages.JournalStorage` on a file (good for many workers on
  a shared file system without a database server).
* A path ending in ``.db`` / ``.sqlite`` / ``.sqlite3``: that SQLite file.
* An already built :class:`optuna.storages.BaseStorage` (returned as is).

Every knowledge base carries a version marker (a reserved study,
:data:`META_STUDY`); opening a knowledge base written by an incompatible
version raises :class:`~warmstart.errors.StorageError`.
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage, RDBStorage

from warmstart._paths import cache_dir
from warmstart.errors import StorageError

KB_VERSION = 1
META_STUDY = "__warmstart_kb__"
HEARTBEAT_INTERVAL = 30
GRACE_PERIOD = 120
_SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
_JOURNAL_SUFFIXES = (".log", ".journal")
_FORMS = "sqlite:///FILE.db, postgresql://USER@HOST/DB, journal:FILE.log, or a .db/.log path"


def default_storage_url() -> str:
    """The default knowledge base: ``$WARMSTART_STORAGE`` or ``sqlite:///<cache>/knowledge.db``."""
    env = os.environ.get("WARMSTART_STORAGE")
    if env:
        return env
    return f"sqlite:///{(cache_dir() / 'knowledge.db').resolve()}"


def storage_url(storage: str | Path | None) -> str:
    """Normalize a storage option to a URL string (``journal:PATH`` for journal files).

    Raises:
        StorageError: the string is empty or not one of the accepted forms.
    """
    if storage is None:
        return default_storage_url()
    s = str(storage).strip()
    if not s:
        raise StorageError(f"empty storage URL; use {_FORMS}")
    if s.startswith("journal:"):
        path = s[len("journal:"):]
        if not path:
            raise StorageError(f"storage {s!r} names no journal file; use journal:PATH")
        return f"journal:{Path(path).expanduser().resolve()}"
    if "://" in s:
        return s
    low = s.lower()
    if low.endswith(_JOURNAL_SUFFIXES):
        return f"journal:{Path(s).expanduser().resolve()}"
    if low.endswith(_SQLITE_SUFFIXES):
        return f"sqlite:///{Path(s).expanduser().resolve()}"
    raise StorageError(f"storage {s!r} is not a recognized URL or file; use {_FORMS}")


def _journal(path: str) -> BaseStorage:
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

    p = Path(path)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(p), lock_obj=JournalFileOpenLock(str(p))))
    except (OSError, ValueError) as exc:
        raise StorageError(f"cannot open journal storage {path}: {exc}") from None


def _rdb(url: str) -> BaseStorage:
    engine_kwargs: dict[str, Any] = {}
    if url.startswith("sqlite:"):
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if path and path != ":memory:":
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StorageError(f"cannot create the folder of SQLite storage {path}: {exc}") from None
        engine_kwargs["connect_args"] = {"timeout": 60}
    elif url.startswith("postgresql"):
        engine_kwargs["connect_args"] = {"connect_timeout": 10}
    shown = url
    if url.startswith("postgresql://"):  # SQLAlchemy 2.1 defaults to psycopg 3; the postgres extra has psycopg2
        import importlib.util

        if importlib.util.find_spec("psycopg") is None and importlib.util.find_spec("psycopg2") is not None:
            url = "postgresql+psycopg2://" + url[len("postgresql://"):]
    try:
        st = _new_rdb(url, engine_kwargs)
        if url.startswith("sqlite:"):  # WAL, busy timeout: many workers on one file (issue 9)
            from warmstart.knowledge._sqlite import tune_sqlite

            tune_sqlite(st.engine)
        return st
    except ImportError:
        extra = "postgres" if "postgres" in url else "mysql" if "mysql" in url else "db"
        raise StorageError(f"storage {_redact(url)} needs a database driver that is not installed: "
                           f"pip install warmstart[{extra}]") from None
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StorageError(f"cannot open storage {_redact(shown)}: {first}") from None


#: what a schema creation reports when another process created the same tables first
_CREATED_MEANWHILE = ("already exists", "UNIQUE constraint failed: alembic_version")


def _new_rdb(url: str, engine_kwargs: dict[str, Any], attempts: int = 5) -> RDBStorage:
    """Optuna's ``RDBStorage``, its schema created if missing.

    Processes that open one fresh SQLite file at once race to create its tables (SQLite runs Optuna's
    check-then-create as separate statements): the losers fail with "table ... already exists" or a
    duplicate schema version. The tables are then there, so such an open is simply tried again (four
    workers opening a fresh file at once failed in 30 of 40 rounds without this).
    """
    def new() -> RDBStorage:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return RDBStorage(url, engine_kwargs=engine_kwargs, heartbeat_interval=HEARTBEAT_INTERVAL,
                              grace_period=GRACE_PERIOD)

    for attempt in range(1, attempts):
        try:
            return new()
        except Exception as exc:
            if not any(m in str(exc) for m in _CREATED_MEANWHILE):
                raise
            time.sleep(0.1 * attempt)
    return new()


def _redact(url: str) -> str:
    """Hide a password in a URL for messages."""
    if "://" in url and "@" in url:
        scheme, rest = url.split("://", 1)
        cred, host = rest.rsplit("@", 1)
        if ":" in cred:
            return f"{scheme}://{cred.split(':', 1)[0]}:***@{host}"
    return url


def check_version(storage: BaseStorage, *, create: bool = True) -> None:
    """Check (and on a fresh knowledge base, write) the knowledge-base version marker.

    Raises:
        StorageError: the knowledge base was written by an incompatible version.
    """
    try:
        study_id = storage.get_study_id_from_name(META_STUDY)
    except KeyError:
        if not create:
            return
        try:
            study_id = storage.create_new_study([optuna.study.StudyDirection.MINIMIZE], META_STUDY)
        except optuna.exceptions.DuplicatedStudyError:  # another worker made it first
            study_id = storage.get_study_id_from_name(META_STUDY)
        else:
            storage.set_study_user_attr(study_id, "kb_version", KB_VERSION)
            return
    version = storage.get_study_user_attrs(study_id).get("kb_version")
    for _ in range(20):  # the worker that made the marker study writes its version right after: wait for it
        if version is not None:
            break
        time.sleep(0.05)
        version = storage.get_study_user_attrs(study_id).get("kb_version")
    if version != KB_VERSION:
        raise StorageError(f"knowledge base has version {version!r}, this warmstart reads version {KB_VERSION}; "
                           "use a new --storage or the matching warmstart version")


def open_storage(storage: str | Path | BaseStorage | None = None, *, create: bool = True) -> BaseStorage:
    """Turn ``None | URL | path | Storage`` into an Optuna storage and check its version.

    Args:
        storage: See the module docstring for the accepted forms.
        create: Write the version marker into a fresh knowledge base.

    Raises:
        StorageError: malformed URL, unreachable server, missing driver, or incompatible version.
    """
    if isinstance(storage, BaseStorage):
        check_version(storage, create=create)
        return storage
    url = storage_url(storage)
    st = _journal(url[len("journal:"):]) if url.startswith("journal:") else _rdb(url)
    check_version(st, create=create)
    return st
