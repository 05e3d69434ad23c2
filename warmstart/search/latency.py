"""Measured CPU latency and parameter counts of a model (architecture costs for NAS).

Latency is measured, not estimated: after ``warmup`` untimed forward passes,
the median of ``repeats`` (at least 20) timed batch-1 forward passes in eval
mode under ``torch.no_grad()``, on this machine's CPU.
"""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Sequence

import torch
from torch import nn

from warmstart.errors import ConfigError


def count_parameters(model: nn.Module) -> int:
    """Number of parameters the model uses (all of them, frozen or not)."""
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def measure_latency(model: nn.Module, input_shape: Sequence[int], *, repeats: int = 20, warmup: int = 5) -> float:
    """Median wall time in milliseconds of one batch-1 forward pass on CPU.

    Args:
        model: The model (a CPU copy is timed; the model itself is untouched).
        input_shape: Shape of one input without the batch dimension, e.g. (1, 28, 28).
        repeats: Timed passes (>= 20).
        warmup: Untimed passes first.

    Raises:
        ConfigError: fewer than 20 repeats.
    """
    if repeats < 20:
        raise ConfigError(f"latency needs at least 20 timed passes, got repeats={repeats}")
    m = copy.deepcopy(model).to("cpu").eval()
    x = torch.rand(1, *input_shape)
    for _ in range(warmup):
        m(x)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        m(x)
        times.append(time.perf_counter() - t0)
    return 1000.0 * statistics.median(times)
