"""The NAS benchmark's quick mode runs end to end and writes its tables, CSVs and plot."""

from __future__ import annotations

import csv
from pathlib import Path

from benchmarks import nas


def test_quick(tmp_path: Path) -> None:
    assert nas.main(["--quick", "--out", str(tmp_path)]) == 0
    for name in ("README.md", "runs.csv", "curves.csv", "targets.csv", "nas.png"):
        assert (tmp_path / name).is_file(), name
    rows = list(csv.DictReader(open(tmp_path / "runs.csv")))
    assert {(r["strategy"], r["init"]) for r in rows} == {(s, i) for s in ("random", "evolution")
                                                          for i in ("inherit", "scratch")}
    for r in rows:
        assert 0.0 <= float(r["test_acc"]) <= 1.0 and int(r["trials"]) == 2
    text = (tmp_path / "README.md").read_text()
    assert "Target 1" in text and "Target 2" in text and "seeds" in text and "Budget per search" in text
