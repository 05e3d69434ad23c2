"""Trivial trial objectives and worker entry points for the reliability tests (they test the runner, not training)."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import Any

import optuna

from warmstart.knowledge.storage import open_storage
from warmstart.search.faults import run_trials

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
    run_trials(study, objective_factory(Path(log), sleep), n_trials=n_trials, trial_timeout=trial_timeout,
               poll=0.05)
