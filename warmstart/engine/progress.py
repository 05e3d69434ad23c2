"""Rich progress bars for long work, quiet when disabled or not wanted."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

_console = Console(stderr=True)


def progress_enabled(requested: bool = True) -> bool:
    """Whether to draw bars: requested and not silenced by ``WARMSTART_NO_PROGRESS=1``."""
    return requested and os.environ.get("WARMSTART_NO_PROGRESS", "") not in ("1", "true")


class _NullBar:
    def update(self, *args: Any, **kwargs: Any) -> None:
        pass

    def advance(self, *args: Any, **kwargs: Any) -> None:
        pass


class Bar:
    """One task of a rich Progress; ``update(advance=1, info="...")``."""

    def __init__(self, progress: Progress, task_id: Any) -> None:
        self._p, self._id = progress, task_id

    def update(self, advance: float = 0, info: str | None = None, **kw: Any) -> None:
        if info is not None:
            kw["info"] = info
        self._p.update(self._id, advance=advance, **kw)

    def advance(self, n: float = 1) -> None:
        self._p.advance(self._id, n)


@contextlib.contextmanager
def progress_bar(description: str, total: float | None, enabled: bool = True) -> Iterator[Bar | _NullBar]:
    """A progress bar on stderr for ``total`` units; a no-op when disabled."""
    if not progress_enabled(enabled):
        yield _NullBar()
        return
    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TextColumn("<"), TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
        console=_console, transient=not sys.stderr.isatty() and False, refresh_per_second=5,
    )
    with progress:
        yield Bar(progress, progress.add_task(description, total=total, info=""))
