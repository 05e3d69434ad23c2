"""benchmarks.trial_choice: the full-length regret of choosing by a trial's validation, on the committed runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import trial_choice


def test_ties_count_as_the_mean_of_the_tied_strategies() -> None:
    cell = {"a": {"full": 0.9}, "b": {"full": 0.8}, "c": {"full": 0.5}}
    assert trial_choice.pick_value(cell, {"a": 0.7, "b": 0.7, "c": 0.6}) == pytest.approx(0.85)
    assert trial_choice.pick_value(cell, {"a": 0.1, "b": 0.2, "c": 0.6}) == pytest.approx(0.5)


def test_cells_join_the_trial_validation_with_both_lengths() -> None:
    meta = [{"task": "t@5shots", "seed": 0, "strategy": s, "member": f"{s}#default", "score": v}
            for s, v in (("mcc", 0.8), ("cdan", 0.9), ("dann", 0.7))]
    meta.append({"task": "t@5shots", "seed": 0, "strategy": "mcc", "member": "mcc#lr", "score": 0.99})  # not a default
    gains = [{"key": "t@5shots", "seed": 0, "strategy": s, "fidelity": f, "test_accuracy": acc, "shots": 5,
              "family": "t", "modality": "image"}
             for s, f, acc in (("mcc", "trial", 0.8), ("mcc", "full", 0.95), ("cdan", "trial", 0.85),
                               ("cdan", "full", 0.9), ("dann", "trial", 0.7), ("dann", "full", 0.85))]
    table = trial_choice.cells(meta, gains)
    assert set(table) == {("t@5shots", 0)} and table[("t@5shots", 0)]["mcc"]["validation"] == 0.8
    (row,) = trial_choice.score_cells(table, gains)  # no other family: no gains, validation alone
    assert row["winner"] == "mcc" and row["regret trial validation"] == pytest.approx(0.05)
    assert row["regret always mcc"] == 0.0 and row["regret trial validation + gain"] == pytest.approx(0.05)


def test_the_committed_runs_give_a_report(tmp_path: Path) -> None:
    if not (trial_choice.TABLE.is_file() and trial_choice.GAIN_RUNS.is_file()):
        pytest.skip("the meta-dataset or length-gain tables are not committed here")
    assert trial_choice.main(["--out", str(tmp_path)]) == 0
    text = (tmp_path / "README.md").read_text()
    assert "regret trial validation + gain" in text and "| mean |" in text
    assert "regret posterior + gain, fidelity noise" in text  # the prior-based rules ran (leave-one-family-out)
