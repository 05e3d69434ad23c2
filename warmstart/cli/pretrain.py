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

METHODS = ("supervised", "simclr", "byol")
SSL_METHODS = ("simclr", "byol")
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
    epochs: int = typer.Option(
        None, "--epochs", help=EPOCHS_HELP + " Default 10; simclr and byol: their library defaults."),
    lr: float = typer.Option(3e-3, "--lr", help="Learning rate."),
    batch_size: int = typer.Option(None, "--batch-size", help="Batch size (default 64; simclr and byol 256)."),
    temperature: float = typer.Option(
        None, "--temperature", help="simclr only: NT-Xent temperature (default: pretrain_simclr's)."),
    momentum: float = typer.Option(
        None, "--momentum", help="byol only: starting target-network momentum in [0, 1) (default: pretrain_byol's)."),
    weights: str = typer.Option(None, "--weights", help="Local pretrained weights for timm: backbones."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run in --out."),
    seed: int = typer.Option(0, "--seed", help=SEED_HELP),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    track: str = typer.Option(None, "--track", help=TRACK_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
    skip_bad: bool = typer.Option(False, "--skip-bad", help=SKIP_BAD_HELP),
) -> None:
    """Pretrain a backbone on a source task and save a checkpoint folder.

    With --method simclr (contrastive) or byol (no negatives), self-supervised
    pretraining on the tasks' unlabelled images (train split + unlabelled pool, labels
    unused; repeat --task to pool several); the checkpoint has no classifier head.

    Example: warmstart pretrain --task mnist5k --backbone smallcnn -o src/
    Example: warmstart pretrain --method simclr --task mnist5k --task digits -o ssl/
    Example: warmstart pretrain --method byol --task mnist5k --task digits -o byol/
    """
    from warmstart import TrainConfig, load_task, pretrain_supervised

    check_device(device)
    if method not in METHODS:
        raise ConfigError(f"unknown pretraining method {method!r}; valid: {', '.join(METHODS)}")
    if temperature is not None and method != "simclr":
        raise ConfigError(f"--temperature applies to --method simclr only, not {method}")
    if momentum is not None and method != "byol":
        raise ConfigError(f"--momentum applies to --method byol only, not {method}")
    if method in SSL_METHODS:
        _pretrain_ssl(method, task, out, backbone, epochs, lr, batch_size or 256,
                      {"temperature": temperature, "momentum": momentum}, resume, seed, device, json_out, skip_bad)
        return
    epochs = 10 if epochs is None else epochs
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


def _pretrain_ssl(method: str, task: list[str], out: Path, backbone: str | None, epochs: int | None, lr: float,
                  batch_size: int, options: dict[str, float | None], resume: bool, seed: int, device: str,
                  json_out: bool, skip_bad: bool) -> None:
    """Self-supervised pretraining (simclr or byol) on the pooled tasks' images."""
    from warmstart import TrainConfig, load_task
    from warmstart.pretraining.byol import DEFAULT_CONFIG as BYOL_CONFIG
    from warmstart.pretraining.byol import MOMENTUM, pretrain_byol
    from warmstart.pretraining.simclr import DEFAULT_CONFIG as SIMCLR_CONFIG
    from warmstart.pretraining.simclr import TEMPERATURE, pretrain_simclr

    defaults = SIMCLR_CONFIG if method == "simclr" else BYOL_CONFIG
    tasks = [load_target(t, True) if skip_bad else load_task(t) for t in task]
    cfg = TrainConfig(epochs=defaults.epochs if epochs is None else epochs, lr=lr, batch_size=batch_size,
                      seed=seed, device=device, progress=True)
    if method == "simclr":
        temperature = options["temperature"]
        ckpt = pretrain_simclr(tasks, out, backbone=backbone, config=cfg, resume=resume,
                               temperature=TEMPERATURE if temperature is None else temperature)
    else:
        momentum = options["momentum"]
        ckpt = pretrain_byol(tasks, out, backbone=backbone, config=cfg, resume=resume,
                             momentum=MOMENTUM if momentum is None else momentum)
    loss_name = "nt_xent" if method == "simclr" else "byol"
    loss = ckpt.meta["metrics"]["train"][loss_name]
    result = {"checkpoint": str(out), "method": method, "tasks": [t.name for t in tasks],
              "backbone": ckpt.meta["backbone"]["name"], "n_images": ckpt.meta["extra"]["n_images"],
              f"final_{loss_name}": loss, "sha256": ckpt.sha256}
    if json_out:
        emit_json(result)
    else:
        console.print(f"saved [bold]{out}[/] ({result['backbone']}, {method} on {'+'.join(result['tasks'])}, "
                      f"{result['n_images']} unlabelled images): final {loss_name} loss {loss:.4f}")
