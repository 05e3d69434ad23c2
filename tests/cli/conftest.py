"""CLI fixtures: a tiny registered image task."""

from __future__ import annotations

import pytest
import torch
from _cli_helpers import TINY

from warmstart.tasks import Task, get_task, register_task


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
