"""CLI test helpers: an in-process runner and the bad-input contract (imported by the CLI tests)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from typer.testing import CliRunner, Result

from warmstart.cli.main import app

TINY = "tinymnist"
@dataclass
class Run:
    """Outcome of one in-process CLI call."""

    code: int
    stdout: str
    stderr: str
    result: Result

    def json(self) -> Any:
        return json.loads(self.stdout)


def cli(*args: str) -> Run:
    """Invoke ``warmstart ARGS`` in-process; stdout and stderr kept apart."""
    res = CliRunner().invoke(app, list(args))
    return Run(res.exit_code, res.stdout, res.stderr, res)


def assert_user_error(run: Run, *fragments: str) -> str:
    """Exit code 2, exactly one line on stderr starting ``error:``, no traceback; returns that line."""
    assert run.code == 2, (run.code, run.stdout, run.stderr, run.result.exception)
    assert run.result.exception is None or isinstance(run.result.exception, SystemExit), run.result.exception
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    line = lines[0]
    assert line.startswith("error: "), line
    assert "Traceback" not in run.stdout + run.stderr
    for f in fragments:
        assert f in line, (f, line)
    return line
