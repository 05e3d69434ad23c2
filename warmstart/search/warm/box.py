"""``box``: search inside the bounding box of the best source configurations.

Perrone, Shen, Seeger, Archambeau, Jenatton, "Learning search spaces for
Bayesian optimization: Another view of hyperparameter transfer learning",
NeurIPS 2019: for each hyperparameter the range becomes [min, max] over the
best configuration of each source task (in log space for log-scaled ones, so
the box is the same); categorical parameters keep the set of values seen. Any
optimizer then searches inside the box; here :class:`BoxSampler` wraps TPE.
Parameters the sources say nothing about keep their full range.
"""

from __future__ import annotations

from typing import Any

from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.samplers import BaseSampler
from optuna.study import Study
from optuna.trial import FrozenTrial

from warmstart.search.warm._base import WarmStart, tpe
from warmstart.search.warm._sources import SourceTask


def bounding_box(sources: list[SourceTask], space: dict[str, BaseDistribution],
                 per_source: int = 1) -> dict[str, BaseDistribution]:
    """The box spanned by the ``per_source`` best configurations of every source (inside ``space``)."""
    best = [c for s in sources for c in s.best(per_source)]
    box: dict[str, BaseDistribution] = {}
    for name, d in space.items():
        vals = [c[name] for c in best if name in c]
        if not vals:
            box[name] = d
        elif isinstance(d, CategoricalDistribution):
            keep = tuple(v for v in d.choices if v in vals)
            box[name] = CategoricalDistribution(keep or d.choices)
        elif isinstance(d, IntDistribution):
            lo, hi = int(min(vals)), int(max(vals))
            box[name] = IntDistribution(lo, hi, log=d.log, step=d.step) if lo < hi else d
            if lo == hi:  # a single value: keep a sliver around it
                box[name] = IntDistribution(max(d.low, lo - d.step), min(d.high, hi + d.step), log=d.log,
                                            step=d.step)
        else:
            assert isinstance(d, FloatDistribution)
            lo_f, hi_f = float(min(vals)), float(max(vals))
            if lo_f == hi_f:
                lo_f, hi_f = max(d.low, lo_f * 0.9 if d.log else lo_f - 1e-3 * (d.high - d.low)), \
                    min(d.high, hi_f * 1.1 if d.log else hi_f + 1e-3 * (d.high - d.low))
            box[name] = FloatDistribution(lo_f, hi_f, log=d.log)
    return box


class BoxSampler(BaseSampler):
    """Sample every parameter from ``base`` restricted to ``box`` (values stay valid in the full space)."""

    def __init__(self, box: dict[str, BaseDistribution], base: BaseSampler) -> None:
        self.box, self.base = box, base

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(self, study: Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return {}

    def sample_independent(self, study: Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        d = self.box.get(param_name, param_distribution)
        if type(d) is not type(param_distribution):
            d = param_distribution
        return self.base.sample_independent(study, trial, param_name, d)

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self.base.before_trial(study, trial)

    def after_trial(self, study: Study, trial: FrozenTrial, state: Any, values: Any) -> None:
        self.base.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.base.reseed_rng()


def box(sources: list[SourceTask], space: dict[str, BaseDistribution], seed: int | None) -> WarmStart:
    """TPE inside the bounding box of the sources' best configurations."""
    b = bounding_box(sources, space)
    shown = ", ".join(f"{k} [{getattr(v, 'low', '')}, {getattr(v, 'high', '')}]" for k, v in b.items()
                      if not isinstance(v, CategoricalDistribution))
    return WarmStart("box", BoxSampler(b, tpe(seed)), [],
                     f"box: TPE inside the bounding box of the best configurations of {len(sources)} tasks: {shown}")
