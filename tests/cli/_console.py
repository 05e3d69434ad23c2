"""The installed ``warmstart`` console script and the environment the process-level tests run it in."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest


def console_script() -> str:
    """The installed ``warmstart`` script of this interpreter (else the one on PATH)."""
    beside = Path(sys.executable).with_name("warmstart")
    found = str(beside) if beside.is_file() else shutil.which("warmstart")
    if not found:
        pytest.fail("the warmstart console script is not installed: pip install -e .")
    return found


def script_env(**extra: str) -> dict[str, str]:
    """This environment, offline and without progress bars, plus ``extra``."""
    env = {**os.environ, "WARMSTART_NO_PROGRESS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "PYTHONUNBUFFERED": "1"}
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    return {**env, **extra}


@dataclass
class Outcome:
    """A console-script run: its exit code, what it wrote, its wall seconds."""

    code: int
    stdout: str
    stderr: str
    seconds: float


def run_script(argv: list[str], env: dict[str, str], timeout: float = 240) -> Outcome:
    """``warmstart ARGV`` as a process with ``env``."""
    t0 = time.perf_counter()
    proc = subprocess.run([console_script(), *argv], capture_output=True, text=True, env=env, timeout=timeout)
    return Outcome(proc.returncode, proc.stdout, proc.stderr, time.perf_counter() - t0)


def run_concurrently(jobs: dict[str, tuple[list[str], dict[str, str]]]) -> dict[str, Outcome]:
    """Run every ``name: (argv, env)`` through the console script, a few at a time."""
    workers = max(2, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 2))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {name: pool.submit(run_script, argv, env) for name, (argv, env) in jobs.items()}
        return {name: f.result() for name, f in futures.items()}
