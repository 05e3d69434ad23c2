"""Rich progress bars for long work, quiet when disabled or not wanted."""

from __future__ import annotations

import contextlib
import os
import time
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
    """One task of a rich Progress; ``update(advance=1, info="...")``.

    Cheap enough to call every training step: advances are summed and handed to
    rich, and the bar redrawn, at most every ``min_interval`` seconds (and on
    every ``info`` change), from the calling thread. There is no background
    refresh thread competing with the training loop for the GIL.
    """

    def __init__(self, progress: Progress, task_id: Any, min_interval: float = 0.25) -> None:
        self._p, self._id = progress, task_id
        self._interval = min_interval
        self._pending = 0.0
        self._last = time.monotonic()

    def update(self, advance: float = 0, info: str | None = None, **kw: Any) -> None:
        self._pending += advance
        now = time.monotonic()
        if info is None and not kw and now - self._last < self._interval:
            return
        if info is not None:
            kw["info"] = info
        self._p.update(self._id, advance=self._pending, **kw)
        self._pending = 0.0
        self._last = now
        self._p.refresh()

    def advance(self, n: float = 1) -> None:
        self.update(advance=n)

    def flush(self) -> None:
        """Hand pending advances to rich (called before the bar closes)."""
        if self._pending:
            self._p.update(self._id, advance=self._pending)
            self._pending = 0.0


@contextlib.contextmanager
def progress_bar(description: str, total: float | None, enabled: bool = True) -> Iterator[Bar | _NullBar]:
    """A progress bar on stderr for ``total`` units; a no-op when disabled."""
    if not progress_enabled(enabled):
        yield _NullBar()
        return
    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TextColumn("<"), TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
        console=_console, transient=False, auto_refresh=False,
    )
    with progress:
        bar = Bar(progress, progress.add_task(description, total=total, info=""))
        try:
            yield bar
        finally:
            bar.flush()
