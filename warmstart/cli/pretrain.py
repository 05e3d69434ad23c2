"""``warmstart pretrain``: train a source model and save it as a checkpoint."""

from __future__ import annotations

from pathlib import Path

import typer

from warmstart.cli._common import (
    DEVICE_HELP,
    EPOCHS_HELP,
    JSON_HELP,
    SEED_HELP,
    cli_errors,
    console,
    emit_json,
)
from warmstart.engine.config import TrainConfig
from warmstart.errors import ConfigError
from warmstart.pretraining import pretrain_supervised
from warmstart.tasks import load_task

METHODS = ("supervised",)


@cli_errors
def pretrain(
    task: list[str] = typer.Option(
        ..., "--task", "-t", help="Source task name or data path (repeatable for self-supervised methods)."),
    out: Path = typer.Option(..., "--out", "-o", help="Checkpoint folder to write."),
    backbone: str = typer.Option(
        None, "--backbone", "-b", help="Backbone name (default: smallcnn for images, mlp for tabular)."),
    method: str = typer.Option("supervised", "--method", help="Pretraining method: " + ", ".join(METHODS) + "."),
    epochs: int = typer.Option(10, "--epochs", help=EPOCHS_HELP),
    lr: float = typer.Option(3e-3, "--lr", help="Learning rate."),
    batch_size: int = typer.Option(64, "--batch-size", help="Batch size."),
    weights: str = typer.Option(None, "--weights", help="Local pretrained weights for timm: backbones."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run in --out."),
    seed: int = typer.Option(0, "--seed", help=SEED_HELP),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Pretrain a backbone on a source task and save a checkpoint folder.

    Example: warmstart pretrain --task mnist5k --backbone smallcnn -o src/
    """
    if method not in METHODS:
        raise ConfigError(f"unknown pretraining method {method!r}; valid: {', '.join(METHODS)}")
    if len(task) != 1:
        raise ConfigError("supervised pretraining takes exactly one --task")
    source_task = load_task(task[0])
    cfg = TrainConfig(epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, device=device,
                      augment="light" if source_task.modality == "image" else "none", progress=True)
    ckpt = pretrain_supervised(source_task, out, backbone=backbone, config=cfg, resume=resume, weights=weights)
    test = ckpt.meta["metrics"]["test"]
    result = {"checkpoint": str(out), "task": source_task.name, "backbone": ckpt.meta["backbone"]["name"],
              "test": test, "sha256": ckpt.sha256}
    if json_out:
        emit_json(result)
    else:
        console.print(f"saved [bold]{out}[/] ({result['backbone']} on {source_task.name}): "
                      f"test accuracy {test['accuracy']:.4f}")
