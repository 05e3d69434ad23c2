"""The throughput benchmark's --quick mode runs, writes its files and prints the ratio last."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

from benchmarks import throughput


def test_quick_mode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert os.environ.get("WARMSTART_NO_PROGRESS") == "1"  # the benchmark forces bars on regardless
    assert throughput.main(["--quick", "--out", str(tmp_path)]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("throughput ratio engine/raw (median of 2 rounds): ")
    assert float(last.rsplit(" ", 1)[1]) > 0
    rows = list(csv.DictReader((tmp_path / "rounds.csv").open()))
    assert len(rows) == 2 and {r["first"] for r in rows} == {"engine", "raw"}
    assert all(float(r["engine_samples_per_s"]) > 0 and float(r["raw_samples_per_s"]) > 0 for r in rows)
    assert {(r["engine_samples"], r["raw_samples"]) for r in rows} == {("256", "256")}  # 256 images x 1 epoch
    readme = (tmp_path / "README.md").read_text()
    assert "Median over 2 interleaved rounds" in readme and "## Provenance" in readme
    assert "## Checks" in readme and "| NO |" not in readme
    assert os.environ.get("WARMSTART_NO_PROGRESS") == "1"  # restored


def test_engine_run_counts_samples_and_draws_a_bar() -> None:
    """With bars forced on, the engine really draws rich's bar (the cost being measured)."""
    import io

    from warmstart.engine import TrainConfig
    from warmstart.engine import progress as progress_mod

    x, y = throughput.load_data(70, synthetic=True)
    model = throughput.new_classifier((4, 4, 4), x)
    cfg = TrainConfig(epochs=2, batch_size=32, device="cpu", progress=True)
    sink = io.StringIO()
    with throughput.progress_forced_on(sink):
        assert progress_mod.progress_enabled(True)
        assert throughput.engine_run(model, x, y, cfg) == 140
    assert "throughput" in sink.getvalue() and "6/6" in sink.getvalue()  # 3 steps x 2 epochs
    assert not progress_mod.progress_enabled(True)


def test_sanity_checks_catch_lost_samples() -> None:
    row = {"images": 10, "engine_samples": 20, "raw_samples": 20, "engine_samples_per_s": 5.0,
           "raw_samples_per_s": 5.0, "ratio": 1.0}
    assert throughput.sanity_checks([row], epochs=2).ok
    assert not throughput.sanity_checks([{**row, "engine_samples": 19}], epochs=2).ok
    assert not throughput.sanity_checks([{**row, "ratio": float("nan")}], epochs=2).ok
