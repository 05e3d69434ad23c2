"""Seeding: the same seed gives identical results on CPU."""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def seed_everything(seed: int, deterministic: bool = False) -> torch.Generator:
    """Seed Python, NumPy and torch; return a CPU generator seeded with ``seed``.

    Args:
        seed: The seed.
        deterministic: Also ask torch for deterministic kernels (CUDA: slower; needs
            ``CUBLAS_WORKSPACE_CONFIG=:4096:8``, which this sets when unset).
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    return torch.Generator().manual_seed(seed)
