"""Warm starts for hyperparameter search: Optuna samplers and enqueued configurations from past tasks.

``make_warm_start(name, sources, space, seed)`` builds one of :data:`WARM_STARTS`.
"""

from __future__ import annotations

from optuna.distributions import BaseDistribution

from warmstart.errors import UnknownNameError
from warmstart.search.warm import auto as _auto
from warmstart.search.warm._base import WarmStart, tpe
from warmstart.search.warm._sources import SourceTask, SpaceMismatchWarning, sources_from_kb
from warmstart.search.warm.box import box
from warmstart.search.warm.cmaes import cmaes
from warmstart.search.warm.quantile import quantile
from warmstart.search.warm.topk import topk

WARM_STARTS = ("none", "topk", "box", "quantile", "cmaes", "auto")


def make_warm_start(name: str, sources: list[SourceTask], space: dict[str, BaseDistribution],
                    seed: int | None = None, direction: str = "maximize") -> WarmStart:
    """Build the warm start ``name`` from ``sources`` (nearest first) for ``space``.

    ``direction`` is the target study's (sources' scores are always higher-is-better).

    Raises:
        UnknownNameError: ``name`` is not one of :data:`WARM_STARTS`.
    """
    if name not in WARM_STARTS:
        raise UnknownNameError("warm start", name, WARM_STARTS)
    reason = ""
    if name == "auto":
        name, reason = _auto.choose(sources)
    if name != "none" and not sources:
        ws = WarmStart("none", tpe(seed), [], f"{name}: the knowledge base holds no source study; cold TPE")
    elif name == "none":
        ws = WarmStart("none", tpe(seed), [], "none: cold TPE")
    else:
        ws = (cmaes(sources, space, seed, direction) if name == "cmaes"
              else {"topk": topk, "box": box, "quantile": quantile}[name](sources, space, seed))
    if reason:
        ws.description = f"{reason} -> {ws.description}"
    ws.notes = [n for s in sources for n in s.notes]
    return ws


__all__ = ["WARM_STARTS", "SourceTask", "SpaceMismatchWarning", "WarmStart", "make_warm_start",
           "sources_from_kb"]
