"""auto/ssl_source.py: a SimCLR source on the target's own images, ranked with the others."""

from __future__ import annotations

from tests.auto.test_auto import _small  # noqa: F401  (registers digits-small)
from warmstart import auto
from warmstart.auto.clock import Clock
from warmstart.auto.ssl_source import ssl_candidate
from warmstart.tasks import get_task

FAST = {"epochs": 1, "min_steps": 1}


def test_auto_ranks_a_self_supervised_source_and_reuses_it(pretrained_source, tmp_path, monkeypatch) -> None:
    import dataclasses

    from warmstart.pretraining import simclr

    # SimCLR's 30 default epochs cost most of this test's time; 3 exercise the same path (ranked, cached, reused)
    monkeypatch.setattr(simclr, "DEFAULT_CONFIG", dataclasses.replace(simclr.DEFAULT_CONFIG, epochs=3))
    kw = dict(budget=1, sources=[pretrained_source], shots=3, strategies=["linear_probe"], progress=False,
              params=FAST, ssl_source=True)
    r = auto("digits-small", out=tmp_path / "run1", **kw)
    names = [s["source"] for s in r["sources"]]
    assert any(n.startswith("simclr:digits-small") for n in names), names
    ssl = next(s for s in r["sources"] if s["source"].startswith("simclr:"))
    assert ssl["logme"] is not None  # ranked like any source, on the support labels
    assert any("SimCLR pretrained" in n and "labels unused" in n and "stopped" not in n for n in r["notes"]), r["notes"]
    r2 = auto("digits-small", out=tmp_path / "run2", **kw)  # same images and settings: the cache
    assert any("a cached pretraining was reused" in n for n in r2["notes"]), r2["notes"]


def test_no_self_supervised_source_for_tabular_tasks() -> None:
    cand, note = ssl_candidate(get_task("iris"), [], Clock(None, 0.0))
    assert cand is None and "not an in-memory image task" in note
