"""The installed ``warmstart`` console script and the environment the process-level tests run it in."""

from __future__ import annotations

import os
import shutil
import sys
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
