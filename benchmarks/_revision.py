"""A recipe run's revision: which version of its strategy's recipe a recorded run ran.

When a strategy's recipe changes after runs of it were recorded, its entry in
:data:`benchmarks._meta_portfolio.REVISION` is bumped. A benchmark row records the revision it ran at
(:func:`current_revision`); a row of an older revision is stale (:func:`is_current`): a resumable benchmark
reads it as not done and runs it again (its line stays in the log; the newer line wins). Runs on a table also
record how their inputs were standardized (:func:`input_revision`). Used by the auto benchmark's and the
length-gain benchmark's run logs.
"""

from __future__ import annotations

from typing import Any

from benchmarks._meta_portfolio import REVISION, TABULAR_REVISION, is_table


def current_revision(strategy: str) -> int:
    """The revision of ``strategy``'s recipe now (1 when it was never revised)."""
    rev = REVISION.get(strategy)
    return rev[0] if rev else 1


def input_revision(task: str | None) -> int:
    """How a run on ``task`` (a built-in name) gets its inputs: :data:`TABULAR_REVISION`'s for a table, else 1."""
    return TABULAR_REVISION[0] if is_table(task) else 1


def is_current(row: dict[str, Any], task: str | None = None) -> bool:
    """Whether a recorded run (with ``strategy`` and, unless 1, ``revision``) is of its strategy's current revision
    and, on a table, of the current :func:`input_revision` (its ``input_revision``).

    A row without ``revision`` (``input_revision``) is of revision 1. ``task`` defaults to the row's ``task``.
    """
    if int(row.get("revision", 1)) != current_revision(str(row.get("strategy", ""))):
        return False
    return int(row.get("input_revision", 1)) == input_revision(task or row.get("task"))
