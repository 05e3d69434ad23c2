"""The reliability benchmark's --quick mode: kills and concurrent workers lose, duplicate and half-write nothing."""

from __future__ import annotations

import csv
from pathlib import Path

from benchmarks.reliability import main


def test_quick(tmp_path: Path) -> None:
    assert main(["--quick", "--out", str(tmp_path)]) == 0
    for name in ("README.md", "rounds.csv", "summary.csv", "reliability.png"):
        assert (tmp_path / name).is_file(), name
    (tot,) = list(csv.DictReader(open(tmp_path / "summary.csv")))
    assert int(tot["rounds"]) == 2
    assert int(tot["found"]) == int(tot["expected"]) == 16
    assert int(tot["lost"]) == int(tot["duplicates"]) == int(tot["half_written"]) == 0
    assert int(tot["still_running"]) == 0 and int(tot["exit_codes_bad"]) == 0
    text = (tmp_path / "README.md").read_text()
    assert "## Checks" in text and "| NO |" not in text
