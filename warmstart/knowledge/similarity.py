"""Task similarity: per-feature normalized L1 distance between meta-feature vectors.

Feurer, Springenberg, Hutter, "Initializing Bayesian Hyperparameter
Optimization via Meta-Learning", AAAI 2015: each meta-feature is rescaled to
[0, 1] by its minimum and maximum over the tasks compared (the target and
every candidate), and the distance is the L1 norm of the difference. We divide
by the number of features, so distances lie in [0, 1]; a feature missing on
one side counts as the maximal difference 1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence


def normalized_l1(target: Mapping[str, float], candidates: Sequence[Mapping[str, float]],
                  *, exclude_prefixes: Sequence[str] = ()) -> list[float]:
    """Distance of each candidate's meta-features to ``target``'s, in [0, 1].

    Args:
        target: Meta-features of the target task.
        candidates: Meta-features of each candidate task.
        exclude_prefixes: Ignore features whose names start with one of these (e.g. ``"probe_"``).
    """
    keys = sorted(k for k in set(target).union(*[set(c) for c in candidates])
                  if not any(k.startswith(p) for p in exclude_prefixes))
    if not keys:
        return [0.0 for _ in candidates]
    lo: dict[str, float] = {}
    hi: dict[str, float] = {}
    for k in keys:
        vals = [float(m[k]) for m in (target, *candidates) if k in m and math.isfinite(float(m[k]))]
        lo[k], hi[k] = (min(vals), max(vals)) if vals else (0.0, 0.0)
    out = []
    for c in candidates:
        total = 0.0
        for k in keys:
            a, b = target.get(k), c.get(k)
            if a is None or b is None or not (math.isfinite(float(a)) and math.isfinite(float(b))):
                total += 1.0
                continue
            span = hi[k] - lo[k]
            total += abs(float(a) - float(b)) / span if span > 0 else 0.0
        out.append(total / len(keys))
    return out


def rank_similar(target: Mapping[str, float], candidates: Mapping[str, Mapping[str, float]],
                 k: int | None = None, *, exclude_prefixes: Sequence[str] = ()) -> list[tuple[str, float]]:
    """Candidate names sorted by distance to ``target`` (nearest first), with their distances."""
    names = list(candidates)
    dist = normalized_l1(target, [candidates[n] for n in names], exclude_prefixes=exclude_prefixes)
    ranked = sorted(zip(names, dist, strict=True), key=lambda t: (t[1], t[0]))
    return ranked if k is None else ranked[:k]
