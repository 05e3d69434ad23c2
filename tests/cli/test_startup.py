"""The CLI's start-up: ``warmstart --help`` and ``warmstart CMD --help`` import neither torch nor Optuna.

Checked in real console-script processes with ``PYTHONPROFILEIMPORTTIME`` (which also gives the import
time), and the start-up is timed: ``warmstart --help`` takes about 0.25 s wall, of which about 0.1 s
imports (it was 4-5 s when the CLI imported torch, Optuna and scikit-learn).
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from tests.cli._console import run_concurrently, run_script, script_env

HEAVY = ("torch", "optuna")
SUBCOMMANDS = ("quickstart", "tasks", "backbones", "strategies", "pretrain", "transfer", "tune", "search", "auto",
               "export", "predict", "report", "kb", "import-weights")


def _imported(stderr: str) -> dict[str, int]:
    """Module name -> cumulative import microseconds, from ``PYTHONPROFILEIMPORTTIME`` output."""
    out: dict[str, int] = {}
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            _, cum, name = line.split("|")
            if cum.strip().isdigit():
                out[name.strip()] = int(cum)
    return out


def test_help_imports_neither_torch_nor_optuna() -> None:
    """``warmstart --help`` and every ``warmstart CMD --help`` start without the heavy libraries."""
    env = script_env(PYTHONPROFILEIMPORTTIME="1")
    jobs = {"": (["--help"], env), **{c: ([c, "--help"], env) for c in SUBCOMMANDS}}
    results = run_concurrently(jobs)
    for cmd, res in results.items():
        assert res.code == 0, (cmd, res.stderr[-2000:])
        mods = _imported(res.stderr)
        assert "warmstart.cli.main" in mods, (cmd, res.stderr[-500:])  # the profile did run
        heavy = sorted(m for m in mods if m.split(".")[0] in HEAVY)
        assert not heavy, f"warmstart {cmd} --help imports {heavy[:5]}"
        assert "Usage" in res.stdout and (cmd in res.stdout)


def test_importing_the_cli_loads_no_heavy_library() -> None:
    code = ("import sys, warmstart.cli.main as m; m.get_app(); "
            "assert 'torch' not in sys.modules and 'optuna' not in sys.modules, sorted(sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=script_env(), timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_help_starts_fast(record_property: Any) -> None:
    """Start-up is measured (best of 3); the bound is loose because CI machines are shared."""
    seconds = min(run_script(["--help"], script_env()).seconds for _ in range(3))
    record_property("warmstart_help_seconds", round(seconds, 3))
    print(f"warmstart --help: {seconds:.2f} s")
    assert seconds < 3.0, f"warmstart --help took {seconds:.2f} s"
