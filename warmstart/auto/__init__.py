"""Auto: one joint search over sources, strategies and hyperparameters, explained in a report."""

from warmstart.auto.run import auto
from warmstart.auto.situation import Situation, choose_strategies
from warmstart.auto.sources import RankedSource, rank_sources

__all__ = ["RankedSource", "Situation", "auto", "choose_strategies", "rank_sources"]
