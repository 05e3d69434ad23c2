"""``--track``: the training commands log per-epoch curves through MLflow's and TensorBoard's own loggers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def test_transfer_track_tensorboard_writes_epoch_curves(pretrained_source: Path, tmp_path: Path, run_cli,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    monkeypatch.chdir(tmp_path)
    run = run_cli("transfer", "--source", str(pretrained_source), "--task", "digits", "--shots", "2",
                  "--epochs", "3", "--min-steps", "3", "--track", "tensorboard", "--json")
    assert run.code == 0, run.stderr
    runs = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    assert len(runs) == 1 and runs[0].name.startswith("transfer:finetune:digits")
    acc = EventAccumulator(str(runs[0]))
    acc.Reload()
    tags = acc.Tags()["scalars"]
    assert "loss" in tags or "train_loss" in tags, tags
    loss_tag = "loss" if "loss" in tags else "train_loss"
    assert len(acc.Scalars(loss_tag)) == 3  # one point per epoch


def test_unknown_tracker_is_one_line(pretrained_source: Path, run_cli, user_error) -> None:  # type: ignore[no-untyped-def]
    run = run_cli("transfer", "--source", str(pretrained_source), "--task", "digits", "--shots", "2",
                  "--track", "wandb")
    user_error(run, "wandb")
    assert not os.path.exists("runs/transfer:finetune:digits")
