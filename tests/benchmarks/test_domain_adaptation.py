"""The domain-adaptation benchmark's --quick mode runs and writes its table, CSVs and plot."""

from __future__ import annotations

import csv
from pathlib import Path

from benchmarks.domain_adaptation import main, sanity_checks


def test_quick(tmp_path: Path) -> None:
    assert main(["--quick", "--out", str(tmp_path)]) == 0
    for name in ("README.md", "runs.csv", "summary.csv", "domain_adaptation.png"):
        assert (tmp_path / name).exists(), name
    rows = list(csv.DictReader(open(tmp_path / "runs.csv")))
    assert {r["method"] for r in rows} == {"source_only", "dann", "mcc", "self_training"}
    assert all(float(r["s_per_1k_steps"]) > 0 and int(r["steps"]) == 4 for r in rows)
    for r in rows:
        assert r["select_by"] == "last"  # the strategies' default
        assert float(r["oracle_accuracy"]) >= float(r["accuracy"]) - 1e-9  # the oracle is the best candidate
    text = (tmp_path / "README.md").read_text()
    assert "oracle" in text and "selected by" in text and "seeds" in text and "s / 1k steps" in text
    assert "mnist5k -> digits: not run" in text  # the targets are stated per pair
    assert "## Checks" in text and "| NO |" not in text
    # partial runs (one process per pair) merge into one report
    assert main(["--merge", str(tmp_path), "--out", str(tmp_path / "merged")]) == 0
    merged = list(csv.DictReader(open(tmp_path / "merged" / "runs.csv")))
    assert merged == rows
    assert "source mnist5k-a" in (tmp_path / "merged" / "README.md").read_text()
    # a merge may re-pick the same candidates by another score: the accuracy is that score's pick
    assert main(["--merge", str(tmp_path), "--out", str(tmp_path / "by_dev"), "--select-by", "dev"]) == 0
    by_dev = list(csv.DictReader(open(tmp_path / "by_dev" / "runs.csv")))
    assert [r["accuracy"] for r in by_dev] == [r["acc_by_dev"] for r in rows]
    assert {r["select_by"] for r in by_dev} == {"dev"}
    assert "re-picked at merge by dev" in (tmp_path / "by_dev" / "README.md").read_text()


def test_sanity_checks_fail_on_missing_runs_or_a_pick_above_the_oracle() -> None:
    row = {"pair": "a -> b", "method": "dann", "seed": 0, "accuracy": 0.5, "acc_by_dev": 0.5, "acc_last": 0.4,
           "oracle_accuracy": 0.6}
    assert sanity_checks([row], 1).ok
    assert not sanity_checks([row], 2).ok  # a run is missing
    assert not sanity_checks([row, row], 2).ok  # the same run twice
    assert not sanity_checks([{**row, "acc_last": 0.7}], 1).ok
    assert not sanity_checks([{**row, "accuracy": 1.5, "oracle_accuracy": 1.5}], 1).ok


def test_a_method_may_be_a_strategy_with_mcc_added(tmp_path: Path) -> None:
    import pytest

    from benchmarks.domain_adaptation import method_recipe

    assert method_recipe("dann") == ("dann", {})
    assert method_recipe("self_training+mcc") == ("self_training", {"mcc": 1.0})
    with pytest.raises(ValueError, match=r"unknown method 'dann\+coral'.*dann\+mcc"):
        method_recipe("dann+coral")
    with pytest.raises(SystemExit):  # one clear line from argparse, before any training
        main(["--methods", "nosuch", "--out", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()


def test_set_gives_every_method_a_hyperparameter_and_refuses_unknown_ones(tmp_path: Path) -> None:
    import pytest

    from benchmarks.domain_adaptation import parse_sets

    assert parse_sets(["source_augment_divergence=logloss", "trade_off=0.5"]) == {
        "source_augment_divergence": "logloss", "trade_off": 0.5}
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_sets(["trade_off"])
    with pytest.raises(SystemExit):  # before any training
        main(["--methods", "mcc", "--set", "nosuch=1", "--out", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()


def test_the_default_source_is_the_one_a_user_gets_from_source_task() -> None:
    from benchmarks.domain_adaptation import _source_checkpoint
    from warmstart.backbones.checkpoint import load_checkpoint
    from warmstart.source import Source
    from warmstart.tasks import load_task

    task = load_task("digits")
    task = task.replace(x_train=task.x_train[:64], y_train=task.y_train[:64])
    path, described = _source_checkpoint(task, "default", 1, quick=False)
    # the very checkpoint Source(task_name=...) pretrains and caches: a user's --source-task gets this model
    assert path == Source(task_name="digits", _task=task, pretrain_epochs=1).checkpoint(progress=False).path
    meta = load_checkpoint(path).meta
    assert meta["backbone"]["name"] == "smallcnn" and meta["backbone"]["kwargs"]["widths"] == [32, 64, 128]
    assert "widths (32, 64, 128), 1 epochs" in described
    narrow, described = _source_checkpoint(task, "narrow", 1, quick=False)
    assert load_checkpoint(narrow).meta["backbone"]["kwargs"]["widths"] == [16, 32, 64]
    assert "widths (16, 32, 64), 1 epochs" in described
