"""Command-line items of the benchmarks: ``key=value`` hyperparameters, strategy names."""

from __future__ import annotations

import json
from typing import Any


def parse_params(items: list[str]) -> dict[str, Any]:
    """``key=value`` pairs; values are read as JSON when they parse (numbers, true/false), else strings.

    Raises:
        ValueError: an item without ``=`` or with an empty key (the message names it).
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValueError(f"expected key=value, got {item!r}")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


def check_strategies(names: list[str] | None, option: str) -> None:
    """Raise when a name is no registered strategy.

    Raises:
        ValueError: ``"<option>: unknown strategy 'x'; choose from ..."`` for the first unknown name.
    """
    from warmstart.strategies import list_strategies

    unknown = sorted(set(names or []) - set(list_strategies()))
    if unknown:
        raise ValueError(f"{option}: unknown strategy {unknown[0]!r}; choose from {', '.join(list_strategies())}")
