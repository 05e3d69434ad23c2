"""The README's main job, run in-process."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from warmstart.cli.main import app


def test_quickstart_json_compares_scratch_and_finetune(tmp_path) -> None:
    res = CliRunner().invoke(app, ["quickstart", "--epochs", "1", "--shots", "2", "--json",
                                   "-o", str(tmp_path / "src")])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout[res.stdout.index("{"):])
    names = [r["strategy"] for r in out["results"]]
    assert names == ["scratch", "finetune"]
    for r in out["results"]:
        assert 0.0 <= r["accuracy"] <= 1.0
    # finetune reuses the mnist head: digit classes match
    assert out["results"][1]["head"] == "reuse"
    assert (tmp_path / "src" / "meta.json").exists()
