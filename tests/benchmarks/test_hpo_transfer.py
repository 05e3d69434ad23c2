"""The HPO-transfer replay: --quick checks that can fail, the same tables twice, and the blackbox generator."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np

from benchmarks.hpo_transfer.generate import generate, sample_configs
from benchmarks.hpo_transfer.simulate import WARM, main, sanity_checks


def test_quick_replay_holds_its_checks_and_repeats(tmp_path: Path) -> None:
    assert main(["--quick", "--out", str(tmp_path / "a")]) == 0
    text = (tmp_path / "a" / "README.md").read_text()
    for method in ("random", "tpe", "cmaes", "topk", "box", "quantile", "cmaes-ws"):
        assert f"| {method} |" in text
    assert "## Checks" in text and "| NO |" not in text
    assert (tmp_path / "a" / "regret.png").stat().st_size > 0
    # a second quick run gives the same tables (simulated seconds come from the blackbox, not the clock)
    assert main(["--quick", "--out", str(tmp_path / "b")]) == 0
    for name in ("summary.csv", "runs.csv"):
        assert (tmp_path / "a" / name).read_text() == (tmp_path / "b" / name).read_text(), name


def test_sanity_checks_fail_on_broken_curves() -> None:
    good = {m: [np.array([0.5, 0.2, 0.2])] for m in ("random", *WARM)}
    summary = [{"method": m, "regret@1": 0.5} for m in good]
    assert sanity_checks(good, summary).ok
    rising = {**good, "topk": [np.array([0.2, 0.3, 0.1])]}
    assert not sanity_checks(rising, summary).ok
    outside = {**good, "box": [np.array([1.5, 0.2, -0.1])]}
    assert not sanity_checks(outside, summary).ok
    worse_start = [{**r, "regret@1": 0.9} if r["method"] == "quantile" else r for r in summary]
    checks = sanity_checks(good, worse_start)
    assert not checks.ok and checks.exit_code() == 1


def test_generator_resumes(tmp_path: Path) -> None:
    generate(tmp_path, ["iris-a"], n_configs=2, epochs=2, save_every=1)
    generate(tmp_path, ["iris-a"], n_configs=3, epochs=2, save_every=1)
    with gzip.open(tmp_path / "iris-a.json.gz", "rt") as fh:
        shard = json.load(fh)
    assert [r["params"] for r in shard["rows"]] == sample_configs(3)
    assert len(shard["rows"][0]["val_loss"]) == 2 and "probe_mean_0" in shard["meta_features"]
