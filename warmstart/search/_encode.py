"""Configurations ↔ points of the unit cube (log scale for log parameters, one-hot for categories)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution


def width(space: dict[str, BaseDistribution]) -> int:
    """Number of unit-cube coordinates of ``space``."""
    return sum(len(d.choices) if isinstance(d, CategoricalDistribution) else 1 for d in space.values())


def _to_unit(v: float, d: FloatDistribution | IntDistribution) -> float:
    lo, hi = float(d.low), float(d.high)
    if hi <= lo:
        return 0.5
    if d.log:
        return (math.log(v) - math.log(lo)) / (math.log(hi) - math.log(lo))
    return (v - lo) / (hi - lo)


def encode(config: dict[str, Any], space: dict[str, BaseDistribution]) -> np.ndarray:
    """One configuration as a vector in [0, 1]^width; missing parameters sit in the middle (0.5)."""
    out: list[float] = []
    for name, d in space.items():
        v = config.get(name)
        if isinstance(d, CategoricalDistribution):
            one = [0.0] * len(d.choices)
            if v in d.choices:
                one[d.choices.index(v)] = 1.0
            else:
                one = [1.0 / len(d.choices)] * len(d.choices)
            out.extend(one)
        elif v is None:
            out.append(0.5)
        else:
            out.append(float(np.clip(_to_unit(float(v), d), 0.0, 1.0)))  # type: ignore[arg-type]
    return np.asarray(out, dtype=np.float64)


def decode(u: np.ndarray, space: dict[str, BaseDistribution]) -> dict[str, Any]:
    """The configuration of a unit-cube point (rounded/clipped into each distribution)."""
    out: dict[str, Any] = {}
    i = 0
    for name, d in space.items():
        if isinstance(d, CategoricalDistribution):
            k = len(d.choices)
            out[name] = d.choices[int(np.argmax(u[i:i + k]))]
            i += k
            continue
        x = float(np.clip(u[i], 0.0, 1.0))
        i += 1
        lo, hi = float(d.low), float(d.high)  # type: ignore[attr-defined]
        v = math.exp(math.log(lo) + x * (math.log(hi) - math.log(lo))) if d.log else lo + x * (hi - lo)  # type: ignore[attr-defined]
        if isinstance(d, IntDistribution):
            step = d.step or 1
            v = int(min(d.high, max(d.low, d.low + round((v - d.low) / step) * step)))
        else:
            v = float(min(hi, max(lo, v)))
        out[name] = v
    return out


def random_unit(rng: np.random.Generator, n: int, space: dict[str, BaseDistribution]) -> np.ndarray:
    """``n`` random unit-cube points (valid one-hot blocks for categories)."""
    cols = []
    for d in space.values():
        if isinstance(d, CategoricalDistribution):
            k = len(d.choices)
            cols.append(np.eye(k)[rng.integers(0, k, size=n)])
        else:
            cols.append(rng.random((n, 1)))
    return np.concatenate(cols, axis=1) if cols else np.zeros((n, 0))
