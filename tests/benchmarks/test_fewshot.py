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
    assert "## Checks" in text and "| NO |" not in text
    acc = {r["method"]: float(r["accuracy_mean"]) for r in rows}
    assert max(v for m, v in acc.items() if m != "scratch") >= acc["scratch"] + 0.05  # transfer beats scratch


def test_sanity_checks_fail_when_transfer_does_not_help() -> None:
    runs = [{"direction": "a→b", "shots": 1, "seed": 0, "method": m, "accuracy": a}
            for m, a in (("reference", 0.5), ("scratch", 0.1), ("finetune", 0.6))]
    assert fewshot.sanity_checks(runs, ["scratch", "finetune"], {"a": 0.9}).ok
    flat = [{**r, "accuracy": 0.1} for r in runs]
    assert not fewshot.sanity_checks(flat, ["scratch", "finetune"], {"a": 0.9}).ok
    assert not fewshot.sanity_checks(runs, ["scratch", "finetune"], {"a": 0.1}).ok  # a useless source
    assert not fewshot.sanity_checks(runs[:2], ["scratch", "finetune"], {"a": 0.9}).ok  # a method never ran
