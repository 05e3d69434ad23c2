from __future__ import annotations

import gzip
import json

from benchmarks.hpo_transfer.generate import generate, sample_configs
from benchmarks.hpo_transfer.simulate import main


def test_quick_replay(tmp_path):
    assert main(["--quick", "--out", str(tmp_path)]) == 0
    text = (tmp_path / "README.md").read_text()
    for method in ("random", "tpe", "cmaes", "topk", "box", "quantile", "cmaes-ws"):
        assert f"| {method} |" in text
    assert (tmp_path / "regret.png").stat().st_size > 0 and (tmp_path / "summary.csv").exists()


def test_generator_resumes(tmp_path):
    generate(tmp_path, ["iris-a"], n_configs=2, epochs=2, save_every=1)
    generate(tmp_path, ["iris-a"], n_configs=3, epochs=2, save_every=1)
    with gzip.open(tmp_path / "iris-a.json.gz", "rt") as fh:
        shard = json.load(fh)
    assert [r["params"] for r in shard["rows"]] == sample_configs(3)
    assert len(shard["rows"][0]["val_loss"]) == 2 and "probe_mean_0" in shard["meta_features"]
