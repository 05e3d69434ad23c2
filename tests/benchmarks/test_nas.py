"""The NAS benchmark's quick mode runs end to end, holds its checks and writes its tables, CSVs and plot."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from benchmarks import nas


def test_quick(tmp_path: Path) -> None:
    assert nas.main(["--quick", "--out", str(tmp_path)]) == 0
    for name in ("README.md", "runs.csv", "curves.csv", "targets.csv", "vs_l2sp.csv", "nas.png"):
        assert (tmp_path / name).is_file(), name
    rows = list(csv.DictReader(open(tmp_path / "runs.csv")))
    assert {(r["strategy"], r["init"]) for r in rows} == {("random", i) for i in ("inherit", "scratch")}
    for r in rows:
        assert 0.0 <= float(r["test_acc"]) <= 1.0 and int(r["trials"]) == 2
        if r["init"] == "inherit":  # the baseline trial ran first and is the floor of the final choice
            assert r["winner"] in ("baseline", "candidate") and float(r["final_val_acc"]) >= float(
                r["baseline_val_acc"])
        else:
            assert r["winner"] == "candidate" and r["baseline_val_acc"] == ""
    vs = list(csv.DictReader(open(tmp_path / "vs_l2sp.csv")))
    assert [r["strategy"] for r in vs] == ["random"]  # the inheriting search against l2sp
    for r in vs:
        assert float(r["l2sp_wall_s"]) > 0 and float(r["search_wall_s"]) > 0
        if r["winner"] == "baseline":  # the kept baseline is exactly the l2sp run's model
            assert float(r["search_test"]) == float(r["l2sp_test"])
    text = (tmp_path / "README.md").read_text()
    assert "Target 1" in text and "Target 2" in text and "Target 3" in text and "seeds" in text
    assert "Budget per search" in text and "l2sp took" in text and "- not measured: it needs both random" in text
    assert "## Checks" in text and "| NO |" not in text
    test = {i: [float(r["test_acc"]) for r in rows if r["init"] == i] for i in ("inherit", "scratch")}
    assert sum(test["inherit"]) >= sum(test["scratch"])  # inheritance at least as good as scratch
    # a second quick run into the same folder starts over instead of resuming from runs.jsonl
    assert nas.main(["--quick", "--out", str(tmp_path)]) == 0
    assert len((tmp_path / "runs.jsonl").read_text().splitlines()) == 3  # 2 searches and the l2sp run


def test_sanity_checks_fail_when_scratch_wins_or_trials_are_missing() -> None:
    args = argparse.Namespace(targets=["t"], seeds=[0], strategies=["random"], budget="2")
    rows = [{"target": "t", "seed": 0, "strategy": "random", "init": i, "trials": 2, "best_val_acc": 0.5,
             "final_val_acc": 0.5, "winner": "candidate", "baseline_val_acc": 0.4 if i == "inherit" else None,
             "test_acc": a} for i, a in (("inherit", 0.6), ("scratch", 0.3))]
    curves = [{"target": "t", "seed": 0, "strategy": "random", "init": "inherit", "best_val_acc": v}
              for v in (0.3, 0.5)]
    refs = [{"target": "t", "seed": 0, "test_acc": 0.6, "wall_s": 1.0}]
    assert nas.sanity_checks(rows, curves, args, refs).ok
    swapped = [{**r, "test_acc": 0.9 if r["init"] == "scratch" else 0.1} for r in rows]
    assert not nas.sanity_checks(swapped, curves, args).ok
    below = [{**rows[0], "baseline_val_acc": 0.6}, rows[1]]  # ended below its baseline on validation
    assert not nas.sanity_checks(below, curves, args, refs).ok
    kept = [{**rows[0], "winner": "baseline", "test_acc": 0.55}, rows[1]]  # a kept baseline that is not l2sp's
    assert not nas.sanity_checks(kept, curves, args, refs).ok
    assert nas.sanity_checks([{**kept[0], "test_acc": 0.6}, rows[1]], curves, args, refs).ok
    assert not nas.sanity_checks([{**rows[0], "trials": 1}, rows[1]], curves, args).ok
    assert not nas.sanity_checks(rows[:1], curves, args).ok
    assert not nas.sanity_checks(rows, list(reversed(curves)), args).ok  # best-so-far went down
