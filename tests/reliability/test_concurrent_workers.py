"""Concurrent workers on one study: exactly N counted trials, none lost or duplicated, all readable.

Four worker processes (forked: the process boundary is the point) share one
SQLite knowledge base, one Optuna journal file, and a real PostgreSQL server
(``WARMSTART_TEST_POSTGRES_URL``, started by ``.ci/services.sh`` under CI).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import uuid
from pathlib import Path

import optuna
import pytest
from _rel_workers import create, worker
from optuna.trial import TrialState

from warmstart.knowledge.storage import open_storage

N = 12
JOBS = 4


def run_workers(url: str, log: Path, n: int = N, jobs: int = JOBS, name: str = "reliability") -> list[int]:
    create(url, name)
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=worker, args=(url, n, str(log)), kwargs={"name": name}) for _ in range(jobs)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
    return [p.exitcode for p in procs]


def check_study(url: str, log: Path, n: int = N, name: str = "reliability") -> None:
    study = optuna.load_study(study_name=name, storage=open_storage(url))
    trials = study.get_trials(deepcopy=True)
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(done) == n, f"{len(done)} counted trials, budget {n}"
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers)), "duplicate trial numbers"
    executed = {}
    for line in log.read_text().splitlines():
        num, _pid, value = line.split()
        assert int(num) not in executed, f"trial {num} ran twice"
        executed[int(num)] = float(value)
    # every trial that finished its objective is recorded, with its value (none lost), and nothing else
    assert {t.number: t.value for t in done} == executed
    for t in trials:
        if t.state == TrialState.FAIL:
            assert "surplus" in t.user_attrs.get("fail_reason", ""), t.user_attrs
        else:
            assert t.params.keys() == {"x"}


def test_four_workers_sqlite(sqlite_url: str, tmp_path: Path) -> None:
    url = sqlite_url
    codes = run_workers(url, tmp_path / "log")
    assert codes == [0] * JOBS
    check_study(url, tmp_path / "log")


def test_four_workers_journal(tmp_path: Path) -> None:
    url = f"journal:{tmp_path / 'kb.log'}"
    codes = run_workers(url, tmp_path / "log")
    assert codes == [0] * JOBS
    check_study(url, tmp_path / "log")


def _postgres_url() -> str:
    url = os.environ.get("WARMSTART_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("no PostgreSQL server: set WARMSTART_TEST_POSTGRES_URL (.ci/services.sh starts one under CI)")
    try:
        import sqlalchemy as sa

        with sa.create_engine(url, connect_args={"connect_timeout": 5}).connect() as c:
            c.execute(sa.text("select 1"))
    except Exception as exc:  # pragma: no cover - depends on the machine
        pytest.skip(f"PostgreSQL at WARMSTART_TEST_POSTGRES_URL is not reachable: {str(exc).splitlines()[0]}")
    return url


def test_four_workers_postgresql(tmp_path: Path) -> None:
    url = _postgres_url()
    name = f"reliability-{uuid.uuid4().hex[:8]}"
    codes = run_workers(url, tmp_path / "log", name=name)
    assert codes == [0] * JOBS
    check_study(url, tmp_path / "log", name=name)
