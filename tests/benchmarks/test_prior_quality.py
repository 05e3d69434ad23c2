"""benchmarks.prior_quality and benchmarks._prior_rows: the meta-dataset's table read back, and the --quick run."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from benchmarks import prior_quality, ship_prior
from benchmarks._prior_rows import TABLE, read_rows


def test_rows_are_typed_and_renamed(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    cols = ["task", "state", "strategy", "params", "shots", "seed", "score", "test_accuracy", "mf_log_n_classes",
            "src_logme", "src_leep", "src_gap", "family", "member"]
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        w.writerow(["digits@5shots", "COMPLETE", "l2sp", "{}", "5", "0", "0.9", "0.93", "2.30", "-0.2", "-0.8", "0.5",
                    "digits", "l2sp#default"])
        w.writerow(["digits@5shots", "FAIL", "mcc", "{}", "5", "0", "", "", "2.30", "", "", "", "digits",
                    "mcc#default"])
    (row,) = read_rows(path)  # the FAIL row is left out
    assert row["logme"] == -0.2 and row["leep"] == -0.8 and row["tf_gap"] == 0.5 and "src_logme" not in row
    assert row["test_accuracy"] == 0.93 and row["params"] == "{}" and row["task"] == "digits@5shots"
    sit = prior_quality.situation(row)
    assert sit == {"mf_log_n_classes": 2.30, "logme": -0.2, "leep": -0.8, "tf_gap": 0.5, "shots": 5}


def test_best_defaults_orders_by_mean_test_accuracy() -> None:
    rows = [{"member": "a#default", "shots": 1.0, "test_accuracy": 0.5},
            {"member": "b#default", "shots": 1.0, "test_accuracy": 0.7},
            {"member": "b#lr=0.1", "shots": 1.0, "test_accuracy": 0.9},  # not a default: ignored
            {"member": "a#default", "shots": 5.0, "test_accuracy": 0.8}]
    assert prior_quality.best_defaults(rows) == {1: ["b#default", "a#default"], 5: ["a#default"]}


@pytest.mark.skipif(not TABLE.is_file(), reason="no committed meta-dataset table")
def test_quick_run_on_the_committed_table(tmp_path: Path) -> None:
    assert prior_quality.main(["--quick", "--out", str(tmp_path / "pq")]) == 0
    text = (tmp_path / "pq" / "README.md").read_text()
    assert "Regret" in text and "prior top-1" in text


def test_ship_prior_refuses_a_missing_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        ship_prior.main(["--table", str(tmp_path / "none.csv"), "--out", str(tmp_path / "p.json.gz")])
    assert exc.value.code == 2 and "no meta-dataset table" in capsys.readouterr().err
    assert not (tmp_path / "p.json.gz").exists()
