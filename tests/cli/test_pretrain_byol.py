"""``warmstart pretrain --method byol`` through ``main()``: a head-less checkpoint, clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from warmstart.backbones.checkpoint import load_checkpoint
from warmstart.tasks import get_task


def test_pretrain_byol_cli(tmp_path: Path, run_cli) -> None:
    d = get_task("digits")
    data = tmp_path / "tiny.npz"
    np.savez(data, X=d.x_train[:64].numpy(), y=d.y_train[:64].numpy())
    out = tmp_path / "byol"
    run = run_cli("pretrain", "--method", "byol", "--task", str(data), "-o", str(out), "--epochs", "1",
                  "--batch-size", "32", "--momentum", "0.9", "--backbone", "smallcnn", "--device", "cpu", "--json")
    assert run.code == 0, run.stderr
    res = run.json()
    assert res["method"] == "byol" and res["n_images"] >= 40 and np.isfinite(res["final_byol"])
    ck = load_checkpoint(out)
    assert ck.classes is None and ck.model.head is None and ck.sha256 == res["sha256"]
    assert ck.meta["extra"]["method"] == "byol" and ck.meta["extra"]["momentum"] == 0.9
    assert ck.meta["extra"]["train_config"]["epochs"] == 1


def test_pretrain_byol_cli_bad_input(tmp_path: Path, run_cli, user_error) -> None:
    out = str(tmp_path / "x")
    user_error(run_cli("pretrain", "--method", "byol", "--task", "iris", "-o", out), "byol pretrains on images",
               "tabular")
    user_error(run_cli("pretrain", "--method", "byol", "--task", "digits", "--momentum", "1.5", "-o", out),
               "momentum must be in [0, 1)")
    user_error(run_cli("pretrain", "--method", "byol", "--task", "digits", "--temperature", "0.2", "-o", out),
               "--temperature applies to --method simclr only")
    user_error(run_cli("pretrain", "--method", "simclr", "--task", "digits", "--momentum", "0.9", "-o", out),
               "--momentum applies to --method byol only")
    user_error(run_cli("pretrain", "--method", "byol", "--task", "digits", "--resume", "-o", out),
               "no interrupted run to resume")
    assert not (tmp_path / "x").exists()
