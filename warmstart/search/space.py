"""The hyperparameter space of a strategy, from its declared ``Param.search`` ranges.

Numbers become :class:`optuna.distributions.FloatDistribution` or
:class:`~optuna.distributions.IntDistribution` (log-scaled when the Param says
so); categorical and boolean parameters with a ``search`` tuple become
:class:`~optuna.distributions.CategoricalDistribution`. Parameters fixed by the
user (``--lr 0.01``) are removed from the space.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from warmstart.errors import ConfigError
from warmstart.strategies import strategy_class


def search_space(strategy: str, fixed: Iterable[str] = ()) -> dict[str, BaseDistribution]:
    """Optuna distributions for every tunable hyperparameter of ``strategy`` not in ``fixed``.

    Raises:
        UnknownNameError: no such strategy.
        ConfigError: the strategy declares nothing to tune (after removing ``fixed``).
    """
    table = strategy_class(strategy).param_table()
    skip = set(fixed)
    space: dict[str, BaseDistribution] = {}
    for name, p in table.items():
        if p.search is None or name in skip:
            continue
        kind = p.kind
        if kind in ("categorical", "str", "bool"):
            space[name] = CategoricalDistribution(tuple(p.search))
        elif kind == "int":
            lo, hi = (int(v) for v in p.search)
            space[name] = IntDistribution(lo, hi, log=p.log)
        else:
            lo_f, hi_f = (float(v) for v in p.search)
            space[name] = FloatDistribution(lo_f, hi_f, log=p.log)
    if not space:
        raise ConfigError(f"strategy {strategy!r} declares no tunable hyperparameters"
                          + (f" besides the fixed {sorted(skip)}" if skip else ""))
    return space


def suggest(trial: Any, space: dict[str, BaseDistribution]) -> dict[str, Any]:
    """Ask ``trial`` for a value of every parameter of ``space``."""
    out: dict[str, Any] = {}
    for name, d in space.items():
        if isinstance(d, FloatDistribution):
            out[name] = trial.suggest_float(name, d.low, d.high, log=d.log, step=d.step)
        elif isinstance(d, IntDistribution):
            out[name] = trial.suggest_int(name, d.low, d.high, log=d.log, step=d.step)
        else:
            out[name] = trial.suggest_categorical(name, list(d.choices))  # type: ignore[attr-defined]
    return out


def in_space(value: Any, dist: BaseDistribution) -> bool:
    """Whether ``value`` is a valid value of ``dist``."""
    try:
        return bool(dist._contains(dist.to_internal_repr(value)))
    except (ValueError, TypeError):
        return False
