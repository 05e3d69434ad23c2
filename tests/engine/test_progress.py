"""Progress bars: throttled updates still end at the exact count; silenced by the environment."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from warmstart.engine import progress


@pytest.fixture()
def drawn(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """Bars on, drawn as on a terminal into a buffer."""
    sink = io.StringIO()
    monkeypatch.delenv("WARMSTART_NO_PROGRESS", raising=False)
    monkeypatch.setattr(progress, "_console", Console(file=sink, force_terminal=True, width=100))
    return sink


def test_many_fast_updates_end_at_the_total(drawn: io.StringIO) -> None:
    with progress.progress_bar("epochs", 1000) as bar:
        assert isinstance(bar, progress.Bar)
        for _ in range(1000):
            bar.update(advance=1)  # far faster than the redraw interval: summed, not drawn each time
        task = bar._p.tasks[0]
    assert task.completed == 1000
    text = drawn.getvalue()
    assert "epochs" in text and "1000/1000" in text


def test_info_is_shown_at_once(drawn: io.StringIO) -> None:
    with progress.progress_bar("train", 10) as bar:
        bar.update(advance=3, info="loss 0.123")
        assert bar._p.tasks[0].completed == 3
        bar.advance(2)
    assert "loss 0.123" in drawn.getvalue() and "5/10" in drawn.getvalue()


def test_silenced_by_environment_or_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARMSTART_NO_PROGRESS", "1")
    assert not progress.progress_enabled(True)
    with progress.progress_bar("x", 3) as bar:
        assert not isinstance(bar, progress.Bar)
        bar.update(advance=1, info="ignored")
    monkeypatch.delenv("WARMSTART_NO_PROGRESS")
    assert progress.progress_enabled(True) and not progress.progress_enabled(False)
