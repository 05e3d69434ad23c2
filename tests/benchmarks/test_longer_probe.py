"""The longer-fit probe: a strategy at its default length against a multiple of it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.longer_probe import main, summary


def test_the_summary_pairs_each_longer_fit_with_the_default_of_its_cut() -> None:
    rows = [{"scale": 2.0, "runs": {"mcc 1x": {"accuracy": 0.9}, "mcc 2x": {"accuracy": 0.92}}},
            {"scale": 2.0, "runs": {"mcc 1x": {"accuracy": 0.8}, "mcc 2x": {"accuracy": 0.79}}}]
    (row,) = summary(rows)
    assert row["cuts"] == 2 and abs(row["longer − 1x"] - 0.005) < 1e-12
    assert row["higher / equal / lower"] == "1 / 0 / 1"


def test_quick_run_writes_both_lengths_and_a_report(tmp_path: Path) -> None:
    assert main(["--quick", "--out", str(tmp_path), "--scale", "3"]) == 0
    (row,) = [json.loads(x) for x in (tmp_path / "cells.jsonl").read_text().splitlines()]
    assert {k: v["steps"] for k, v in row["runs"].items()} == {"mcc 1x": 10, "mcc 3x": 30}
    assert "longer − 1x" in (tmp_path / "README.md").read_text()


def test_a_scale_of_one_or_less_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--quick", "--scale", "1"])
    assert exc.value.code == 2 and "--scale must be above 1" in capsys.readouterr().err
