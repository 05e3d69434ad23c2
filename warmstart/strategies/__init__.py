"""Transfer strategies, one file per method, sharing the Strategy contract."""

from warmstart.strategies._base import Strategy
from warmstart.strategies._params import COMMON_PARAMS, Param
from warmstart.strategies._registry import (
    get_strategy,
    list_strategies,
    register_strategy,
    strategy_class,
)

__all__ = [
    "COMMON_PARAMS",
    "Param",
    "Strategy",
    "get_strategy",
    "list_strategies",
    "register_strategy",
    "strategy_class",
]
