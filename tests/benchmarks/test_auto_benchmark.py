"""benchmarks/auto.py --quick runs end to end, holds its checks and writes its table."""

from __future__ import annotations

import csv

from benchmarks import auto as bench


def test_auto_benchmark_quick(tmp_path) -> None:
    assert bench.main(["--quick", "--out", str(tmp_path)]) == 0
    text = (tmp_path / "README.md").read_text()
    assert "digits-5shot" in text and "command:" in text
    assert "## Checks" in text and "| NO |" not in text
    (row,) = list(csv.DictReader(open(tmp_path / "auto.csv")))
    assert int(row["auto_trials"]) == 2 and float(row["auto_accuracy"]) >= 0.15  # 10 classes: chance is 0.1


def test_sanity_checks_fail_on_wrong_trial_count_or_chance_accuracy() -> None:
    row = {"auto_trials": 2, "auto_accuracy": 0.6, "baseline_accuracy": 0.5}
    assert bench.sanity_checks([row], "2").ok
    assert not bench.sanity_checks([{**row, "auto_trials": 1}], "2").ok
    assert not bench.sanity_checks([{**row, "auto_accuracy": 0.1}], "2").ok
    assert bench.sanity_checks([row], "5m").ok  # a wall-time budget has no trial count to check
