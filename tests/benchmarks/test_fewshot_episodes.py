"""The few-shot episodes benchmark's --quick mode runs end to end and writes its files."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from benchmarks import fewshot_episodes


def test_quick_mode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert fewshot_episodes.main(["--quick", "--out", str(tmp_path)]) == 0
    rows = list(csv.DictReader((tmp_path / "episodes.csv").open()))
    methods = {r["method"] for r in rows}
    assert {"protonet", "maml (second order)", "maml (first order)"} <= methods
    assert {(r["setting"], r["shots"]) for r in rows} == {(s, k) for s in ("all classes", "unseen classes")
                                                          for k in ("1", "5")}
    assert all(0.0 <= float(r["accuracy"]) <= 1.0 for r in rows)
    probes = list(csv.DictReader((tmp_path / "linear_probe.csv").open()))
    sources = [p["source"] for p in probes]
    assert sources[0].startswith("supervised") and any(s.startswith("SimCLR") for s in sources)
    assert any(s.startswith("BYOL") for s in sources)
    assert (tmp_path / "ssl_ablation.csv").exists()
    assert (tmp_path / "fewshot_episodes.png").stat().st_size > 0
    readme = (tmp_path / "README.md").read_text()
    assert "## Provenance" in readme and "## Targets" in readme
    checks = readme.split("## Checks", 1)[1].split("##", 1)[0]  # the targets are goals: quick misses them
    assert "protonet" in checks and "| yes |" in checks and "| NO |" not in checks  # e.g. well above chance
    assert "results in" in capsys.readouterr().out
    # one part again: the README keeps the other part's latest files
    assert fewshot_episodes.main(["--quick", "--out", str(tmp_path), "--part", "probes", "--no-ablation"]) == 0
    readme = (tmp_path / "README.md").read_text()
    assert "part 1 not run" not in readme and "protonet" in readme and "part 2;" in readme


def test_sanity_checks_fail_at_chance() -> None:
    rows = [{"setting": s, "shots": k, "method": "protonet", "accuracy": 0.6}
            for s in ("all classes", "unseen classes") for k in (1, 5)]
    probes = [{"source": "random init", "accuracy": 0.4}]
    assert fewshot_episodes.sanity_checks(rows, probes).ok
    assert not fewshot_episodes.sanity_checks([{**r, "accuracy": 0.2} for r in rows], probes).ok
    assert not fewshot_episodes.sanity_checks(rows[:3], probes).ok  # a cell is missing
    assert not fewshot_episodes.sanity_checks(rows, [{"source": "x", "accuracy": 0.1}]).ok
