"""The few-shot episodes benchmark's --quick mode runs end to end and writes its files."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from benchmarks import fewshot_episodes


def test_quick_mode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert fewshot_episodes.main(["--quick", "--out", str(tmp_path)]) == 0
    rows = list(csv.DictReader((tmp_path / "episodes.csv").open()))
    methods = {r["method"] for r in rows}
    assert {"protonet", "maml (second order)", "maml (first order)"} <= methods
    assert {(r["setting"], r["shots"]) for r in rows} == {(s, k) for s in ("all classes", "unseen classes")
                                                          for k in ("1", "5")}
    assert all(0.0 <= float(r["accuracy"]) <= 1.0 for r in rows)
    probes = list(csv.DictReader((tmp_path / "linear_probe.csv").open()))
    assert [p["source"] for p in probes] == ["random init", "supervised mnist5k", "SimCLR mnist5k",
                                             "SimCLR mnist5k + digits pool"]
    assert (tmp_path / "fewshot_episodes.png").stat().st_size > 0
    readme = (tmp_path / "README.md").read_text()
    assert "## Provenance" in readme and "## Targets" in readme
    assert "results in" in capsys.readouterr().out
