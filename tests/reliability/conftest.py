"""Fixtures of the reliability tests: a fresh SQLite knowledge base per test, copied from a template.

Creating the Optuna schema takes seconds on a busy machine; copying an empty,
version-marked knowledge base takes milliseconds.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def _kb_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from warmstart.knowledge.storage import open_storage

    path = tmp_path_factory.mktemp("kb-template") / "kb.db"
    st = open_storage(f"sqlite:///{path}")
    st.engine.dispose()  # type: ignore[attr-defined]
    for suffix in ("-wal", "-shm"):  # checkpointed on close; nothing left in the WAL
        assert not Path(f"{path}{suffix}").exists() or Path(f"{path}{suffix}").stat().st_size == 0
    return path


@pytest.fixture
def sqlite_url(_kb_template: Path, tmp_path: Path) -> str:
    """URL of an empty SQLite knowledge base of this test."""
    dest = tmp_path / "kb.db"
    shutil.copy(_kb_template, dest)
    return f"sqlite:///{dest}"


@pytest.fixture(autouse=True)
def _one_thread() -> object:
    """One torch thread in these tests: tiny models, and worker processes forked from this one."""
    import torch

    from warmstart.engine.device import configure_threads

    before = configure_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
