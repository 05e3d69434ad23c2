"""The few-shot benchmark's quick mode runs end to end and writes its table, CSVs and plot."""

from __future__ import annotations

import csv
from pathlib import Path

from benchmarks import fewshot


def test_quick(tmp_path: Path) -> None:
    assert fewshot.main(["--quick", "--out", str(tmp_path)]) == 0
    for name in ("README.md", "fewshot.csv", "fewshot_runs.csv", "fewshot.png"):
        assert (tmp_path / name).is_file(), name
    rows = list(csv.DictReader(open(tmp_path / "fewshot.csv")))
    methods = {r["method"] for r in rows}
    assert {"reference", *fewshot.STRATEGIES} <= methods
    for r in rows:
        assert 0.0 <= float(r["accuracy_mean"]) <= 1.0
        assert r["head"] in ("reuse", "new")
    text = (tmp_path / "README.md").read_text()
    assert "command" in text and "seeds" in text and "diff_vs_reference" in text
