from __future__ import annotations

import optuna
import pytest
from typer.testing import CliRunner

from warmstart._paths import cache_dir
from warmstart.cli.main import app
from warmstart.errors import StorageError
from warmstart.knowledge import list_records, open_storage, storage_url
from warmstart.knowledge.records import ATTR
from warmstart.knowledge.storage import KB_VERSION, META_STUDY


def test_default_is_sqlite_in_cache(monkeypatch):
    monkeypatch.delenv("WARMSTART_STORAGE", raising=False)
    url = storage_url(None)
    assert url == f"sqlite:///{(cache_dir() / 'knowledge.db').resolve()}"
    st = open_storage(None)
    assert isinstance(st, optuna.storages.RDBStorage)
    assert (cache_dir() / "knowledge.db").exists()


def test_forms(tmp_path):
    assert storage_url(tmp_path / "a.log").startswith("journal:")
    assert storage_url(f"journal:{tmp_path}/b") == f"journal:{tmp_path}/b"
    assert storage_url(tmp_path / "kb.sqlite") == f"sqlite:///{tmp_path}/kb.sqlite"
    st = open_storage(f"journal:{tmp_path}/j.log")
    assert isinstance(st, optuna.storages.JournalStorage)
    mem = optuna.storages.InMemoryStorage()
    assert open_storage(mem) is mem


@pytest.mark.parametrize("bad", ["notaurl", "", "journal:", "foo://bar", "sqlite:////proc/nope/kb.db",
                                 "postgresql://user:secret@127.0.0.1:1/db"])
def test_bad_urls_raise_storage_error(bad):
    with pytest.raises(StorageError) as err:
        open_storage(bad)
    assert "secret" not in str(err.value)
    assert "\n" not in str(err.value)


def test_incompatible_version(tmp_path):
    url = f"sqlite:///{tmp_path}/kb.db"
    st = open_storage(url)
    sid = st.get_study_id_from_name(META_STUDY)
    st.set_study_user_attr(sid, "kb_version", KB_VERSION + 1)
    with pytest.raises(StorageError, match="version"):
        open_storage(url)


def test_study_from_other_version_refused(tmp_path):
    st = open_storage(f"sqlite:///{tmp_path}/kb.db")
    study = optuna.create_study(study_name="x|tune:scratch", storage=st)
    study.set_user_attr(ATTR, {"kb_version": 99, "task": "x", "kind": "tune:scratch"})
    with pytest.raises(StorageError, match="version 99"):
        list_records(st)


def test_cli_bad_storage_is_one_line_exit_2():
    res = CliRunner().invoke(app, ["kb", "list", "--storage", "mysql://u@127.0.0.1:1/x"])
    assert res.exit_code == 2
    assert res.output.strip().startswith("error:") and len(res.output.strip().splitlines()) == 1


def test_kb_show_on_an_empty_knowledge_base_says_it_is_empty(tmp_path):  # type: ignore[no-untyped-def]
    import contextlib
    import io

    from warmstart.cli.main import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["kb", "show", "wine", "--storage", str(tmp_path / "kb.db")])
    assert code == 2
    lines = err.getvalue().strip().splitlines()
    assert len(lines) == 1 and "holds no task yet" in lines[0], lines


def _open(url: str, start, results) -> None:  # type: ignore[no-untyped-def]
    start.wait()
    try:
        open_storage(url)
        results.put("ok")
    except StorageError as exc:
        results.put(str(exc))


def test_workers_opening_one_fresh_knowledge_base_at_once_all_succeed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Four processes racing to create a fresh SQLite file's tables and version marker: before the retry and
    the wait for the marker, an open failed in 30 of 40 rounds ("table ... already exists", "version None")."""
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    for r in range(5):
        url = f"sqlite:///{tmp_path}/kb{r}.db"
        start, results = ctx.Event(), ctx.Queue()
        procs = [ctx.Process(target=_open, args=(url, start, results)) for _ in range(4)]
        for p in procs:
            p.start()
        start.set()
        outcomes = [results.get(timeout=60) for _ in procs]
        for p in procs:
            p.join(timeout=60)
        assert outcomes == ["ok"] * 4, outcomes
