"""Fixtures for strategy tests: a tiny few-shot digits target and sources built from ``pretrained_source``."""

from __future__ import annotations

from pathlib import Path

import pytest

from warmstart.source import Source
from warmstart.tasks import Task, get_task


@pytest.fixture(scope="session")
def tiny_target() -> Task:
    """digits, 1 shot per class (10 labels), a 64-image unlabelled pool and 100 test images."""
    t = get_task("digits").few_shot(1, seed=0)
    return t.replace(x_unlabeled=t.x_unlabeled[:64], x_test=t.x_test[:100], y_test=t.y_test[:100])


@pytest.fixture(scope="session")
def tiny_source_task_name() -> str:
    """A source task with data (for strategies that train on source data)."""
    return "mnist5k-a"


@pytest.fixture(scope="session")
def make_source(pretrained_source: Path):  # type: ignore[no-untyped-def]
    """Build a Source from the shared checkpoint, optionally with a source task."""

    def make(task_name: str | None = None) -> Source:
        return Source(path=pretrained_source, task_name=task_name)

    return make


TINY = {"epochs": 1, "min_steps": 3, "batch_size": 16, "progress": False, "device": "cpu",
        # domain adaptation and semi-supervised strategies: steps in all
        "iterations": 3,
        # meta-learners (protonet, maml): a couple of small episodes
        "meta_episodes": 2, "pretrain_epochs": 0, "meta_iterations": 1, "meta_batch": 1, "inner_steps": 1,
        "adapt_steps": 2,
        "meta_queries": 2}


@pytest.fixture(scope="session")
def tiny_budget():  # type: ignore[no-untyped-def]
    """Budget overrides limited to the options a strategy declares."""

    def budget(table: dict) -> dict:
        return {k: v for k, v in TINY.items() if k in table}

    return budget


