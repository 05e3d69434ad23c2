"""A recipe run's revision: which version of its strategy's recipe a recorded run ran.

When a strategy's recipe changes after runs of it were recorded, its entry in
:data:`benchmarks._meta_portfolio.REVISION` is bumped. A benchmark row records the revision it ran at
(:func:`current_revision`); a row of an older revision is stale (:func:`is_current`): a resumable benchmark
reads it as not done and runs it again (its line stays in the log; the newer line wins). Used by the
auto benchmark's and the length-gain benchmark's run logs.
"""

from __future__ import annotations

from typing import Any

from benchmarks._meta_portfolio import REVISION


def current_revision(strategy: str) -> int:
    """The revision of ``strategy``'s recipe now (1 when it was never revised)."""
    rev = REVISION.get(strategy)
    return rev[0] if rev else 1


def is_current(row: dict[str, Any]) -> bool:
    """Whether a recorded run (with ``strategy`` and, unless 1, ``revision``) is of its strategy's current revision.

    A row without ``revision`` is of revision 1.
    """
    return int(row.get("revision", 1)) == current_revision(str(row.get("strategy", "")))
