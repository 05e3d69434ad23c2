"""The few-shot benchmark's quick mode runs end to end (with the pool methods, and without them under
``--no-pool``) and writes its tables, CSVs and plot; the pool gains and targets are computed right."""

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
    assert {"reference", *fewshot.STRATEGIES, *fewshot.POOL_STRATEGIES} <= methods
    for r in rows:
        assert 0.0 <= float(r["accuracy_mean"]) <= 1.0
        assert r["head"] in ("reuse", "new")
    text = (tmp_path / "README.md").read_text()
    assert "command" in text and "seeds" in text and "diff_vs_reference" in text
    assert "## Checks" in text and "| NO |" not in text
    acc = {r["method"]: float(r["accuracy_mean"]) for r in rows}
    assert max(v for m, v in acc.items() if m != "scratch") >= acc["scratch"] + 0.05  # transfer beats scratch
    # the pool: one gain row for the one (direction, shots) cell, and the targets with their verdict
    gains = list(csv.DictReader(open(tmp_path / "fewshot_pool.csv")))
    assert len(gains) == 1 and gains[0]["best_pool_method"] in fewshot.POOL_STRATEGIES
    assert gains[0]["best_pool_free"] in fewshot.STRATEGIES
    assert "## What the unlabelled pool adds" in text and "## Targets" in text
    assert "mnist5k→digits, 1 shot(s): best method >= 0.95:" in text
    assert "labels never read" in text


def test_no_pool_runs_only_the_pool_free_strategies(tmp_path: Path) -> None:
    assert fewshot.main(["--quick", "--no-pool", "--strategies", "scratch", "finetune", "--out", str(tmp_path)]) == 0
    methods = {r["method"] for r in csv.DictReader(open(tmp_path / "fewshot.csv"))}
    assert methods == {"reference", "scratch", "finetune"}
    assert not (tmp_path / "fewshot_pool.csv").exists()
    assert "unlabelled pool adds" not in (tmp_path / "README.md").read_text()
    # --merge runs nothing: the partial runs' rows (a run present twice kept once) make the report
    (tmp_path / "b").mkdir()
    first = (tmp_path / "runs.jsonl").read_text().splitlines()[0]
    (tmp_path / "b" / "runs.jsonl").write_text(first + "\n")
    merged = tmp_path / "merged"
    assert fewshot.main(["--quick", "--no-pool", "--strategies", "scratch", "finetune", "--out", str(merged),
                         "--merge", str(tmp_path), str(tmp_path / "b")]) == 0
    assert (merged / "runs.jsonl").read_text() == (tmp_path / "runs.jsonl").read_text()
    assert list(csv.DictReader(open(merged / "fewshot.csv"))) == list(csv.DictReader(open(tmp_path / "fewshot.csv")))
    assert "runs merged from" in (merged / "README.md").read_text()


def test_a_shard_runs_only_its_cells(tmp_path: Path) -> None:
    import pytest

    # --quick has one (direction, shots, seed) cell: shard 0/2 owns it, shard 1/2 runs and writes nothing
    assert fewshot.main(["--quick", "--no-pool", "--strategies", "scratch", "--shard", "1/2",
                         "--out", str(tmp_path)]) == 0
    assert not (tmp_path / "runs.jsonl").exists() and not (tmp_path / "README.md").exists()
    with pytest.raises(SystemExit):  # one argparse line, before any training
        fewshot.main(["--quick", "--shard", "2/2", "--out", str(tmp_path / "bad")])
    assert not (tmp_path / "bad").exists()


def _run(method: str, seed: int, acc: float, shots: int = 1) -> dict[str, object]:
    return {"direction": "mnist5k→digits", "shots": shots, "seed": seed, "method": method, "accuracy": acc}


def test_pool_gain_pairs_the_best_of_each_side() -> None:
    runs = [_run("reference", s, 0.5) for s in range(3)]
    runs += [_run("finetune", s, a) for s, a in enumerate((0.80, 0.82, 0.84))]
    runs += [_run("l2sp", s, a) for s, a in enumerate((0.85, 0.86, 0.87))]  # the best pool-free strategy
    runs += [_run("fixmatch", s, a) for s, a in enumerate((0.90, 0.95, 0.97))]  # the best pool method
    runs += [_run("mcc", s, a) for s, a in enumerate((0.88, 0.88, 0.88))]
    (row,) = fewshot.pool_gains(runs, ["finetune", "l2sp"], ["fixmatch", "mcc"])
    assert (row["best_pool_method"], row["best_pool_free"], row["seeds"]) == ("fixmatch", "l2sp", 3)
    diffs = [0.90 - 0.85, 0.95 - 0.86, 0.97 - 0.87]
    assert abs(row["gain"] - sum(diffs) / 3) < 1e-9 and row["ci95_low"] < row["gain"] < row["ci95_high"]
    assert fewshot.pool_gains(runs, ["finetune", "l2sp"], []) == []
    text = fewshot.targets_section(runs)
    assert f"1 shot(s): best method >= 0.95: fixmatch {sum((0.90, 0.95, 0.97)) / 3:.4f}: NOT met" in text
    assert "5 shot(s): best method >= 0.97: not run" in text
    met = fewshot.targets_section([_run("fixmatch", 0, 0.99, shots=10)])
    assert "10 shot(s): best method >= 0.98: fixmatch 0.9900: met" in met


def test_sanity_checks_fail_when_transfer_does_not_help() -> None:
    runs = [{"direction": "a→b", "shots": 1, "seed": 0, "method": m, "accuracy": a}
            for m, a in (("reference", 0.5), ("scratch", 0.1), ("finetune", 0.6))]
    assert fewshot.sanity_checks(runs, ["scratch", "finetune"], {"a": 0.9}).ok
    flat = [{**r, "accuracy": 0.1} for r in runs]
    assert not fewshot.sanity_checks(flat, ["scratch", "finetune"], {"a": 0.9}).ok
    assert not fewshot.sanity_checks(runs, ["scratch", "finetune"], {"a": 0.1}).ok  # a useless source
    assert not fewshot.sanity_checks(runs[:2], ["scratch", "finetune"], {"a": 0.9}).ok  # a method never ran
    # a direction may leave a method out (the reverse direction without a costly one), not run it twice
    other = [{**r, "direction": "b→a"} for r in runs[:2]]
    assert fewshot.sanity_checks(runs + other, ["scratch", "finetune"], {"a": 0.9}).ok
    assert not fewshot.sanity_checks(runs + other + other[1:], ["scratch", "finetune"], {"a": 0.9}).ok
