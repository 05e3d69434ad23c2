from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from warmstart.backbones.checkpoint import load_checkpoint
from warmstart.cli.main import app
from warmstart.tasks import get_task


def test_pretrain_simclr_cli(tmp_path: Path) -> None:
    d = get_task("digits")
    data = tmp_path / "tiny.npz"
    np.savez(data, X=d.x_train[:80].numpy(), y=d.y_train[:80].numpy())
    out = tmp_path / "ssl"
    r = CliRunner().invoke(app, ["pretrain", "--method", "simclr", "--task", str(data), "--task", str(data),
                                 "-o", str(out), "--epochs", "1", "--batch-size", "32", "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout[r.stdout.index("{"):])
    assert res["method"] == "simclr" and len(res["tasks"]) == 2 and res["n_images"] >= 2 * 40
    ck = load_checkpoint(out)
    assert ck.classes is None and ck.model.head is None


def test_pretrain_simclr_cli_bad_input(tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["pretrain", "--method", "simclr", "--task", "iris", "-o", str(tmp_path / "x")])
    assert r.exit_code == 2 and "error:" in r.output and "tabular" in r.output
    assert not (tmp_path / "x").exists()
    r = CliRunner().invoke(app, ["pretrain", "--method", "byol", "--task", "digits", "-o", str(tmp_path / "x")])
    assert r.exit_code == 2 and "simclr" in r.output
