"""``topk``: evaluate the best configurations of the most similar past tasks first.

Feurer, Springenberg, Hutter, "Initializing Bayesian Hyperparameter
Optimization via Meta-Learning", AAAI 2015 (auto-sklearn's meta-learning
initialization): rank past tasks by meta-feature distance, take the best
configuration of each of the k nearest, evaluate those first, then continue
with the base optimizer (TPE) on the target's own trials. With fewer than k
past tasks, the next-best configurations of the nearest ones fill the list.
"""

from __future__ import annotations

from typing import Any

from optuna.distributions import BaseDistribution

from warmstart.search.warm._base import WarmStart, tpe
from warmstart.search.warm._sources import SourceTask


def topk_configs(sources: list[SourceTask], k: int) -> list[dict[str, Any]]:
    """Up to ``k`` distinct configurations: best of each nearest source, then second-best, ..."""
    out: list[dict[str, Any]] = []
    seen: set[tuple[Any, ...]] = set()
    depth = 0
    ranked = [s.best(k) for s in sources]
    while len(out) < k and any(depth < len(r) for r in ranked):
        for r in ranked:
            if depth < len(r) and len(out) < k:
                key = tuple(sorted(r[depth].items()))
                if key not in seen:
                    seen.add(key)
                    out.append(dict(r[depth]))
        depth += 1
    return out


def topk(sources: list[SourceTask], space: dict[str, BaseDistribution], seed: int | None,
         k: int = 5) -> WarmStart:
    """Enqueue the best configurations of the ``k`` nearest sources; TPE afterwards."""
    configs = topk_configs(sources, k)
    names = ", ".join(f"{s.name} ({s.distance:.3f})" for s in sources[:k])
    return WarmStart("topk", tpe(seed, n_startup_trials=max(len(configs), 3)), configs,
                     f"topk: {len(configs)} best configurations of the nearest tasks {names} first, then TPE")
