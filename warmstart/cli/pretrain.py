"""``warmstart pretrain``: train a source model and save it as a checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from warmstart.cli._common import (
    DEVICE_HELP,
    EPOCHS_HELP,
    INTERRUPTED,
    JSON_HELP,
    RESUME_HINT,
    SEED_HELP,
    SKIP_BAD_HELP,
    TRACK_HELP,
    check_device,
    cli_errors,
    console,
    emit_json,
    load_target,
    tracking,
)
from warmstart.errors import ConfigError

METHODS = ("supervised", "simclr")
RESUME_STATE = Path(".resume") / "state.json"  # what pretraining leaves after each epoch (pretraining.RESUME_DIR)


def _interrupted(kwargs: dict[str, Any]) -> str:
    """The Ctrl-C line: the --resume hint once an epoch's resumable state is on disk."""
    out = kwargs.get("out")
    return RESUME_HINT if out is not None and (Path(out) / RESUME_STATE).is_file() else INTERRUPTED


@cli_errors(interrupted=_interrupted)
def pretrain(
    task: list[str] = typer.Option(
        ..., "--task", "-t", help="Source task name or data path (repeatable for self-supervised methods)."),
    out: Path = typer.Option(..., "--out", "-o", help="Checkpoint folder to write."),
    backbone: str = typer.Option(
        None, "--backbone", "-b", help="Backbone name (default: smallcnn for images, mlp for tabular)."),
    method: str = typer.Option("supervised", "--method", help="Pretraining method: " + ", ".join(METHODS) + "."),
    epochs: int = typer.Option(10, "--epochs", help=EPOCHS_HELP),
    lr: float = typer.Option(3e-3, "--lr", help="Learning rate."),
    batch_size: int = typer.Option(None, "--batch-size", help="Batch size (default 64; simclr 256)."),
    temperature: float = typer.Option(0.5, "--temperature", help="simclr: NT-Xent temperature."),
    weights: str = typer.Option(None, "--weights", help="Local pretrained weights for timm: backbones."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run in --out."),
    seed: int = typer.Option(0, "--seed", help=SEED_HELP),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    track: str = typer.Option(None, "--track", help=TRACK_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
    skip_bad: bool = typer.Option(False, "--skip-bad", help=SKIP_BAD_HELP),
) -> None:
    """Pretrain a backbone on a source task and save a checkpoint folder.

    With --method simclr, contrastive self-supervised pretraining on the tasks'
    unlabelled images (train split + unlabelled pool, labels unused; repeat --task to
    pool several); the checkpoint has no classifier head.

    Example: warmstart pretrain --task mnist5k --backbone smallcnn -o src/
    Example: warmstart pretrain --method simclr --task mnist5k --task digits -o ssl/
    """
    from warmstart import TrainConfig, load_task, pretrain_supervised

    check_device(device)
    if method not in METHODS:
        raise ConfigError(f"unknown pretraining method {method!r}; valid: {', '.join(METHODS)}")
    if method == "simclr":
        _pretrain_simclr(task, out, backbone, epochs, lr, batch_size or 256, temperature, resume, seed, device,
                         json_out, skip_bad)
        return
    if len(task) != 1:
        raise ConfigError("supervised pretraining takes exactly one --task")
    source_task = load_target(task[0], True) if skip_bad else load_task(task[0])
    cfg = TrainConfig(epochs=epochs, lr=lr, batch_size=batch_size or 64, seed=seed, device=device,
                      augment="light" if source_task.modality == "image" else "none", progress=True)
    with tracking(track, f"pretrain:{source_task.name}"):
        ckpt = pretrain_supervised(source_task, out, backbone=backbone, config=cfg, resume=resume, weights=weights)
    test = ckpt.meta["metrics"]["test"]
    result = {"checkpoint": str(out), "task": source_task.name, "backbone": ckpt.meta["backbone"]["name"],
              "test": test, "sha256": ckpt.sha256}
    if json_out:
        emit_json(result)
    else:
        console.print(f"saved [bold]{out}[/] ({result['backbone']} on {source_task.name}): "
                      f"test accuracy {test['accuracy']:.4f}")


def _pretrain_simclr(task: list[str], out: Path, backbone: str | None, epochs: int, lr: float, batch_size: int,
                     temperature: float, resume: bool, seed: int, device: str, json_out: bool,
                     skip_bad: bool) -> None:
    from warmstart import TrainConfig, load_task
    from warmstart.pretraining.simclr import pretrain_simclr

    tasks = [load_target(t, True) if skip_bad else load_task(t) for t in task]
    cfg = TrainConfig(epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, device=device, progress=True)
    ckpt = pretrain_simclr(tasks, out, backbone=backbone, config=cfg, temperature=temperature, resume=resume)
    loss = ckpt.meta["metrics"]["train"]["nt_xent"]
    result = {"checkpoint": str(out), "method": "simclr", "tasks": [t.name for t in tasks],
              "backbone": ckpt.meta["backbone"]["name"], "n_images": ckpt.meta["extra"]["n_images"],
              "final_nt_xent": loss, "sha256": ckpt.sha256}
    if json_out:
        emit_json(result)
    else:
        console.print(f"saved [bold]{out}[/] ({result['backbone']}, simclr on {'+'.join(result['tasks'])}, "
                      f"{result['n_images']} unlabelled images): final NT-Xent {loss:.4f}")
