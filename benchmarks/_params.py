"""``key=value`` command-line items of the benchmarks, read as a dict of hyperparameters."""

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
