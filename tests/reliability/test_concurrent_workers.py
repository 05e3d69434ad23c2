"""Concurrent workers on one study: exactly N counted trials, none lost or duplicated, all readable.

Four worker processes (forked: the process boundary is the point) share one
SQLite knowledge base, one Optuna journal file, and a real PostgreSQL server
(``WARMSTART_TEST_POSTGRES_URL``, started by ``.ci/services.sh`` under CI).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import time
import uuid
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from warmstart.errors import StorageError
from warmstart.knowledge.storage import open_storage
from warmstart.search.driver import drive

N = 12
JOBS = 4
STUDY = "reliability"



def log_line(log: Path, text: str) -> None:
    """Append one line atomically (O_APPEND, a single write)."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, (text + "\n").encode())
    finally:
        os.close(fd)


def create(url: str, name: str = STUDY) -> optuna.Study:
    """Create (or load) the shared study."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(study_name=name, storage=open_storage(url), load_if_exists=True)


def objective_factory(log: Path, sleep: tuple[float, float] = (0.0, 0.02)) -> Any:
    """A trial that sleeps a little, logs its number and value, and returns x**2."""

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", -10, 10)
        time.sleep(random.uniform(*sleep))
        value = x * x
        log_line(log, f"{trial.number} {os.getpid()} {value!r}")
        return value

    return objective


def worker(url: str, n_trials: int, log: str, sleep: tuple[float, float] = (0.0, 0.02),
           name: str = STUDY, trial_timeout: float | None = None) -> None:
    """One worker process: load the study and run trials until the shared budget is spent."""
    os.environ["WARMSTART_THREADS"] = "1"
    random.seed(os.getpid())
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.load_study(study_name=name, storage=open_storage(url),
                              sampler=optuna.samplers.RandomSampler(seed=os.getpid()))
    drive(study, objective_factory(Path(log), sleep), n_trials=n_trials, trial_timeout=trial_timeout,
               poll=0.05)



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
        open_storage(url)
    except StorageError as exc:  # pragma: no cover - depends on the machine
        pytest.skip(f"PostgreSQL at WARMSTART_TEST_POSTGRES_URL is not reachable: {exc}")
    return url


def test_four_workers_postgresql(tmp_path: Path) -> None:
    url = _postgres_url()
    name = f"reliability-{uuid.uuid4().hex[:8]}"
    codes = run_workers(url, tmp_path / "log", name=name)
    assert codes == [0] * JOBS
    check_study(url, tmp_path / "log", name=name)
