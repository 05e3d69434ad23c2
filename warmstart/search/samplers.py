"""The sampler registry: every search method as an Optuna ``BaseSampler``, built by name.

Two families share one registry (DESIGN.md: "samplers ... as optuna BaseSampler
subclasses in one registry"):

* ``nas`` — proposes architectures over a :class:`~warmstart.search.nas_space.Space`:
  ``random`` (Bergstra & Bengio 2012), ``tpe`` (Bergstra et al. 2011), ``evolution``
  (regularized aging evolution, Real et al. 2019), ``rl`` (REINFORCE, Zoph & Le 2017),
  ``nsga2`` (Deb et al. 2002; several objectives). ``darts`` is a study driver, not a
  sampler (:mod:`warmstart.search.darts`).
* ``warm`` — hyperparameter samplers warm-started from past tasks
  (:mod:`warmstart.search.warm`): ``none`` (cold TPE), ``topk``, ``box``, ``quantile``,
  ``cmaes``. Their configurations to evaluate first come with the sampler
  (:class:`~warmstart.search.warm._base.WarmStart`).

A new search method registers here with :func:`register_sampler`; the conformance
test (tests/search/test_sampler_registry.py) runs over :func:`list_samplers`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler

from warmstart.errors import ConfigError, UnknownNameError
from warmstart.search.nas_space import Space


@dataclass
class SamplerContext:
    """What a sampler factory may use.

    Attributes:
        space: The architecture space (``nas`` samplers); for ``warm`` samplers, a :class:`Space`
            whose choices are the hyperparameters is accepted too, or None.
        distributions: The Optuna search space (``warm`` samplers); defaults to ``space.distributions()``.
        seed: Seed of the sampler's randomness (same seed, same proposals).
        sources: Past tasks nearest first (``warm`` samplers): :class:`~warmstart.search.warm.SourceTask`.
        direction: The study's direction (``maximize`` or ``minimize``).
        options: Method-specific settings (e.g. ``population_size``).
    """

    space: Space | None = None
    distributions: dict[str, BaseDistribution] | None = None
    seed: int | None = None
    sources: list[Any] = field(default_factory=list)
    direction: str = "maximize"
    options: dict[str, Any] = field(default_factory=dict)

    def search_space(self) -> dict[str, BaseDistribution]:
        """The Optuna distributions the sampler proposes from."""
        if self.distributions is not None:
            return dict(self.distributions)
        if self.space is not None:
            return dict(self.space.distributions())
        raise ConfigError("a sampler needs a search space")

    def need_space(self, name: str) -> Space:
        """The architecture space, or a clear error naming the sampler."""
        if self.space is None:
            raise ConfigError(f"sampler {name!r} searches an architecture space; none was given")
        return self.space


@dataclass(frozen=True)
class SamplerEntry:
    """One registered sampler: family, factory and a one-line summary (with its paper)."""

    name: str
    family: str
    build: Callable[[SamplerContext], Any]
    summary: str


_REGISTRY: dict[tuple[str, str], SamplerEntry] = {}


def register_sampler(name: str, family: str, summary: str) -> Callable[[Callable[[SamplerContext], Any]],
                                                                        Callable[[SamplerContext], Any]]:
    """Register a sampler factory ``ctx -> BaseSampler`` (or a ``WarmStart`` for the ``warm`` family)."""

    def deco(fn: Callable[[SamplerContext], Any]) -> Callable[[SamplerContext], Any]:
        _REGISTRY[(family, name)] = SamplerEntry(name, family, fn, summary)
        return fn

    return deco


def list_samplers(family: str | None = None) -> list[SamplerEntry]:
    """Registered samplers (of one family), in registration order."""
    return [e for (fam, _), e in _REGISTRY.items() if family is None or fam == family]


def sampler_names(family: str) -> tuple[str, ...]:
    """Names registered in ``family``."""
    return tuple(e.name for e in list_samplers(family))


def build_sampler(name: str, family: str, ctx: SamplerContext) -> Any:
    """Build the sampler ``name`` of ``family`` (``warm``: a ``WarmStart`` with its sampler).

    Raises:
        UnknownNameError: no such sampler (the message lists the family's names).
    """
    entry = _REGISTRY.get((family, name))
    if entry is None:
        kind = "search strategy" if family == "nas" else "warm start"
        raise UnknownNameError(kind, name, sampler_names(family))
    return entry.build(ctx)


def as_sampler(built: Any) -> BaseSampler:
    """The ``BaseSampler`` of a factory's product (a ``WarmStart`` carries one)."""
    return built if isinstance(built, BaseSampler) else built.sampler


# ---------------------------------------------------------------------------- nas
@register_sampler("random", "nas", "uniform random search (Bergstra & Bengio, JMLR 2012)")
def _random(ctx: SamplerContext) -> BaseSampler:
    return optuna.samplers.RandomSampler(seed=ctx.seed)


@register_sampler("tpe", "nas", "tree-structured Parzen estimator (Bergstra et al., NeurIPS 2011)")
def _tpe(ctx: SamplerContext) -> BaseSampler:
    return optuna.samplers.TPESampler(seed=ctx.seed, n_startup_trials=int(ctx.options.get("n_startup_trials", 4)))


@register_sampler("evolution", "nas", "regularized (aging) evolution (Real et al., AAAI 2019)")
def _evolution(ctx: SamplerContext) -> BaseSampler:
    from warmstart.search.evolution import RegularizedEvolutionSampler

    return RegularizedEvolutionSampler(ctx.need_space("evolution"),
                                       population_size=int(ctx.options.get("population_size", 4)),
                                       sample_size=int(ctx.options.get("sample_size", 2)), seed=ctx.seed)


@register_sampler("rl", "nas", "REINFORCE controller with a moving-average baseline (Zoph & Le, ICLR 2017)")
def _rl(ctx: SamplerContext) -> BaseSampler:
    from warmstart.search.reinforce import ReinforceSampler

    return ReinforceSampler(ctx.need_space("rl"), seed=ctx.seed)


@register_sampler("nsga2", "nas", "NSGA-II over several objectives (Deb et al., IEEE TEC 2002)")
def _nsga2(ctx: SamplerContext) -> BaseSampler:
    return optuna.samplers.NSGAIISampler(seed=ctx.seed, population_size=int(ctx.options.get("population_size", 4)))


# ---------------------------------------------------------------------------- warm
def _warm(name: str) -> Callable[[SamplerContext], Any]:
    def build(ctx: SamplerContext) -> Any:
        from warmstart.search.warm import build_warm_start

        return build_warm_start(name, list(ctx.sources), ctx.search_space(), seed=ctx.seed, direction=ctx.direction)

    return build


for _name, _summary in (
    ("none", "cold TPE (Bergstra et al., NeurIPS 2011)"),
    ("topk", "best configurations of the k most similar past tasks first (Feurer et al., AAAI 2015)"),
    ("box", "search inside the bounding box of past tasks' best configurations (Perrone et al., NeurIPS 2019)"),
    ("quantile", "Gaussian-copula surrogate of past tasks with Thompson sampling (Salinas et al., ICML 2020)"),
    ("cmaes", "warm-started CMA-ES from past tasks' best trials (Nomura et al., AAAI 2021)"),
):
    register_sampler(_name, "warm", _summary)(_warm(_name))
