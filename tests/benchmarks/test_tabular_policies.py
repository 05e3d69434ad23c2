"""The tabular ensemble probe's policies: what each returns on a cut, and how it is scored against the baseline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import tabular_ensemble_probe
from benchmarks._tabular_policies import policies, returned, score

ONE_HOT = {0: [1.0, 0.0], 1: [0.0, 1.0]}


def _row(seed: int, preds: dict[str, list[int]], order: list[tuple[str, float, float]],
         y: list[int] = [0, 1, 0, 1]) -> dict:  # noqa: B006 (read only)
    probs = {f: [ONE_HOT[p] for p in ps] for f, ps in preds.items()}
    acc = {f: sum(p == t for p, t in zip(ps, y, strict=True)) / len(y) for f, ps in preds.items()}
    return {"task": "t-b", "shots": 5, "seed": seed, "y": y, "probs": probs, "accuracy": acc,
            "order": [{"strategy": s, "utility": u, "predicted": u, "gain": g} for s, u, g in order]}


def test_returned_keeps_the_trial_length_where_the_gain_is_negative() -> None:
    order = [{"strategy": "a", "gain": -0.1}, {"strategy": "b", "gain": 0.1}, {"strategy": "c", "gain": 0.2}]
    fits = {"a/trial": 1, "a/full": 1, "b/trial": 1, "b/full": 1, "c/trial": 1}
    assert returned(order, fits, "a") == "a/trial"
    assert returned(order, fits, "b") == "b/full"
    assert returned(order, fits, "c") == "c/trial"  # no longer length


def test_policies_pick_average_and_differ() -> None:
    # a: right on 2/4 at full length; b: 3/4; c: 3/4, wrong where b is right
    row = _row(0, {"a/trial": [1, 1, 0, 1], "a/full": [1, 0, 0, 1], "b/trial": [0, 1, 1, 1],
                   "b/full": [0, 1, 1, 1], "c/trial": [0, 0, 0, 1], "c/full": [1, 1, 0, 1]},
               [("a", 0.3, 0.1), ("b", 0.2, 0.1), ("c", 0.1, 0.1)])
    got = policies(row)
    assert got["one pick"] == 0.5  # a, full
    assert got["top-2"] == 0.75  # a and b disagree on items 0 and 2: the tie goes to class 0, right on both
    assert got["all, trial"] == 1.0  # the majority of three trial fits is right where each one errs


def test_score_pairs_by_seed_against_the_hindsight_best(tmp_path: Path) -> None:
    order = [("a", 0.3, 0.1), ("b", 0.2, 0.1)]
    rows = [_row(s, {"a/trial": [0, 1, 0, 1], "a/full": [0, 1, 0, 0], "b/trial": [0, 1, 0, 1],
                     "b/full": [0, 1, 0, 1]}, order) for s in (0, 1, 2)]
    summary, per_cell = score(rows)
    by = {r["policy"]: r for r in summary}
    assert per_cell[0]["best single (hindsight)"] == "b 1.0000"
    assert by["one pick"]["mean difference"] == "-0.2500" and by["one pick"]["cells matched"] == 0
    assert by["all, trial"]["mean difference"] == "+0.0000" and by["all, trial"]["cells matched"] == 1


def test_the_probe_refuses_the_situations_family(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        tabular_ensemble_probe.main(["--cells", "breast_cancer-b@5", "--report-only"])
    assert exc.value.code == 2 and "breast_cancer" in capsys.readouterr().err


def test_quick_probe_writes_its_report(tmp_path: Path) -> None:
    assert tabular_ensemble_probe.main(["--quick", "--seeds", "0", "--out", str(tmp_path)]) == 0
    row = json.loads((tmp_path / "cells.jsonl").read_text().splitlines()[0])
    assert row["order"] and set(row["probs"]) >= {"source_only/trial", "source_only/full"}
    assert "refit soup NLL top-1" in row["soups"]  # auto's revision-39 refit, measured
    assert "one pick" in (tmp_path / "README.md").read_text()


def test_the_source_choice_takes_the_best_fit_on_the_source_labels_ties_to_the_earlier_full_length() -> None:
    from benchmarks._tabular_policies import by_source

    row = _row(0, {"a/trial": [0, 1, 0, 1], "a/full": [1, 0, 0, 1], "b/trial": [1, 1, 1, 1], "b/full": [0, 1, 0, 1]},
               [("a", 0.3, 0.1), ("b", 0.2, 0.1)])
    row["source_y"] = [0, 0, 1]
    right = [ONE_HOT[0], ONE_HOT[0], ONE_HOT[1]]
    row["source_probs"] = {"a/trial": right, "a/full": [ONE_HOT[0]] * 3, "b/trial": right, "b/full": right}
    assert by_source(row, ["a", "b"]) == "a/trial"  # a/trial, b/trial and b/full all 3/3: the earlier strategy
    assert by_source(row, ["b", "a"]) == "b/full"  # b first: its full length first
    got = policies(row)
    assert got["source top-1"] == 1.0 and got["source, all"] == 1.0  # a/trial is right on every test item
