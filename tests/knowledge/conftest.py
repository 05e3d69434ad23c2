from __future__ import annotations

import pytest

from warmstart.engine.device import configure_threads


@pytest.fixture(autouse=True)
def _one_thread():
    """One torch thread: tiny models on a shared machine run faster and deterministically."""
    import torch

    before = torch.get_num_threads()
    configure_threads(1)
    yield
    configure_threads(before)
