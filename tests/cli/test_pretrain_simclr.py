"""``warmstart pretrain --method simclr`` through ``main()``: a headless checkpoint, clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from warmstart.backbones.checkpoint import load_checkpoint
from warmstart.tasks import get_task


def test_pretrain_simclr_cli(tmp_path: Path, run_cli) -> None:
    d = get_task("digits")
    data = tmp_path / "tiny.npz"
    np.savez(data, X=d.x_train[:80].numpy(), y=d.y_train[:80].numpy())
    out = tmp_path / "ssl"
    run = run_cli("pretrain", "--method", "simclr", "--task", str(data), "--task", str(data),
                  "-o", str(out), "--epochs", "1", "--batch-size", "32", "--json")
    assert run.code == 0, run.stderr
    res = run.json()
    assert res["method"] == "simclr" and len(res["tasks"]) == 2 and res["n_images"] >= 2 * 40
    ck = load_checkpoint(out)
    assert ck.classes is None and ck.model.head is None and ck.sha256 == res["sha256"]


def test_pretrain_simclr_cli_bad_input(tmp_path: Path, run_cli, user_error) -> None:
    user_error(run_cli("pretrain", "--method", "simclr", "--task", "iris", "-o", str(tmp_path / "x")), "tabular")
    assert not (tmp_path / "x").exists()
    user_error(run_cli("pretrain", "--method", "moco", "--task", "digits", "-o", str(tmp_path / "x")),
               "unknown pretraining method 'moco'", "simclr", "byol")
