"""CLI fixtures: a tiny registered image task, a runner through ``main()``, the bad-input contract.

``run_cli`` calls :func:`warmstart.cli.main.main` — what the console script runs — with stdout
and stderr captured apart. An exception that ``main()`` does not turn into an exit code (a bug)
propagates to the test, so a traceback fails it. Tests get the helpers as fixtures (``run_cli``,
``user_error``): under pytest's importlib import mode a test module cannot import this file by name.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import torch

from warmstart.cli.main import main
from warmstart.tasks import Task, get_task, register_task

TINY = "tinymnist"


@dataclass
class Run:
    """Outcome of one CLI call through ``main()``.

    Attributes:
        code: The exit code ``main()`` returned.
        stdout: Everything written to stdout.
        stderr: Everything written to stderr.
        exception: Always None: an exception ``main()`` does not handle propagates instead.
    """

    code: int
    stdout: str
    stderr: str
    exception: BaseException | None = None

    @property
    def result(self) -> Run:
        """This run (``run.result.exception`` as with typer's runner)."""
        return self

    def json(self) -> Any:
        return json.loads(self.stdout)


def cli(*args: str) -> Run:
    """Run ``warmstart ARGS`` through ``main()`` in-process; stdout and stderr kept apart."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return Run(code, out.getvalue(), err.getvalue())


def assert_user_error(run: Run, *fragments: str) -> str:
    """Exit code 2, exactly one line on stderr starting ``error:``, no traceback, nothing on stdout.

    Returns:
        The error line.
    """
    assert run.code == 2, (run.code, run.stdout, run.stderr)
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    line = lines[0]
    assert line.startswith("error: "), line
    assert "Traceback" not in run.stdout + run.stderr
    assert run.stdout == "", run.stdout
    for f in fragments:
        assert f in line, (f, line)
    return line


def _tiny_mnist() -> Task:
    """A random 120/40/40 subset of mnist5k (every digit present)."""
    task = get_task("mnist5k")
    g = torch.Generator().manual_seed(0)
    tr = torch.randperm(len(task.y_train), generator=g)[:120]
    va = torch.randperm(len(task.y_val), generator=g)[:40]
    te = torch.randperm(len(task.y_test), generator=g)[:40]
    return task.replace(name=TINY, x_train=task.x_train[tr], y_train=task.y_train[tr], x_val=task.x_val[va],
                        y_val=task.y_val[va], x_test=task.x_test[te], y_test=task.y_test[te],
                        provenance={**task.provenance, "subset": "tests/cli: 120/40/40 random"})


@pytest.fixture(scope="session")
def tiny_task() -> str:
    """Name of a registered tiny image task (built once, then served from memory)."""
    cached = _tiny_mnist()
    register_task(TINY, lambda: cached)
    return TINY


@pytest.fixture()
def run_cli() -> Callable[..., Run]:
    """``run_cli(*args)``: run ``warmstart ARGS`` through ``main()`` in-process (stdout and stderr apart)."""
    return cli


@pytest.fixture()
def user_error() -> Callable[..., str]:
    """``user_error(run, *fragments)``: check the bad-input contract; returns the error line."""
    return assert_user_error
