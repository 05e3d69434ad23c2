"""Warm starts for hyperparameter search: Optuna samplers and enqueued configurations from past tasks.

Every warm start is built through the sampler registry (family ``warm``,
:func:`warmstart.search.samplers.build_sampler`); :func:`make_warm_start` resolves
``auto`` (:mod:`warmstart.search.warm.auto` picks one and says why) and builds it there.
:func:`build_warm_start` is the registry's factory of the concrete ones.
"""

from __future__ import annotations

from collections.abc import Callable

from optuna.distributions import BaseDistribution

from warmstart.errors import UnknownNameError
from warmstart.search.warm import auto as _auto
from warmstart.search.warm._base import WarmStart, tpe
from warmstart.search.warm._sources import SourceTask, SpaceMismatchWarning, sources_from_kb
from warmstart.search.warm.box import box
from warmstart.search.warm.cmaes import cmaes
from warmstart.search.warm.quantile import quantile
from warmstart.search.warm.topk import topk

#: the registered warm starts (``none``, ``topk``, ``box``, ``quantile``, ``cmaes``) and ``auto``
WARM_STARTS = ("none", "topk", "box", "quantile", "cmaes", "auto")


def build_warm_start(name: str, sources: list[SourceTask], space: dict[str, BaseDistribution],
                     seed: int | None = None, direction: str = "maximize") -> WarmStart:
    """The concrete warm start ``name`` (not ``auto``): the sampler registry's factory for the ``warm`` family.

    With no source study, every warm start falls back to cold TPE and says so.

    Raises:
        UnknownNameError: ``name`` is not a concrete warm start.
    """
    if name == "none":
        return WarmStart("none", tpe(seed), [], "none: cold TPE")
    if name not in WARM_STARTS or name == "auto":
        raise UnknownNameError("warm start", name, WARM_STARTS)
    if not sources:
        return WarmStart("none", tpe(seed), [], f"{name}: the knowledge base holds no source study; cold TPE")
    if name == "cmaes":
        return cmaes(sources, space, seed, direction)
    if name == "topk":
        return topk(sources, space, seed)
    return box(sources, space, seed) if name == "box" else quantile(sources, space, seed)


def resolve_warm_start(name: str, sources: list[SourceTask], build: Callable[[str], WarmStart]) -> WarmStart:
    """Resolve ``auto`` to a concrete name, build it with ``build(name)``, add the reason and the sources' notes.

    Raises:
        UnknownNameError: ``name`` is not one of :data:`WARM_STARTS`.
    """
    if name not in WARM_STARTS:
        raise UnknownNameError("warm start", name, WARM_STARTS)
    reason = ""
    if name == "auto":
        name, reason = _auto.choose(sources)
    ws = build(name)
    if reason:
        ws.description = f"{reason} -> {ws.description}"
    ws.notes = [n for s in sources for n in s.notes]
    return ws


def make_warm_start(name: str, sources: list[SourceTask], space: dict[str, BaseDistribution],
                    seed: int | None = None, direction: str = "maximize") -> WarmStart:
    """Build the warm start ``name`` from ``sources`` (nearest first) for ``space``, through the sampler registry.

    ``direction`` is the target study's (sources' scores are always higher-is-better).

    Raises:
        UnknownNameError: ``name`` is not one of :data:`WARM_STARTS`.
    """
    from warmstart.search.samplers import SamplerContext, build_sampler

    ctx = SamplerContext(distributions=dict(space), seed=seed, sources=list(sources), direction=direction)
    return resolve_warm_start(name, sources, lambda n: build_sampler(n, "warm", ctx))


__all__ = ["WARM_STARTS", "SourceTask", "SpaceMismatchWarning", "WarmStart", "build_warm_start",
           "make_warm_start", "resolve_warm_start", "sources_from_kb"]
