"""``warmstart quickstart``: the main job on built-in data, offline, in a few minutes.

Pretrains a small CNN on ``mnist5k``, transfers it to ``digits`` with a few
labelled images per class, and compares training from scratch with fine-tuning.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from warmstart.cli._common import (
    DEVICE_HELP,
    JSON_HELP,
    SEED_HELP,
    check_device,
    cli_errors,
    console,
    emit_json,
    err_console,
)

STRATEGIES = ("scratch", "finetune")


@cli_errors
def quickstart(
    shots: int = typer.Option(5, "--shots", help="Labelled target images per class."),
    epochs: int = typer.Option(5, "--epochs", help="Pretraining epochs on mnist5k."),
    out: Path = typer.Option(
        None, "--out", "-o", help="Keep the source checkpoint here (default: a temporary folder)."),
    seed: int = typer.Option(0, "--seed", help=SEED_HELP),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Pretrain on mnist5k, transfer to digits with --shots labels per class; compare with scratch.

    Example: warmstart quickstart --shots 5
    """
    from warmstart import Source, TrainConfig, get_task, pretrain_supervised, transfer

    check_device(device)
    with tempfile.TemporaryDirectory(prefix="warmstart-quickstart-") as tmp:
        ckpt_dir = out or Path(tmp) / "mnist5k-smallcnn"
        err_console.print(f"[bold]1/2[/] pretraining smallcnn on mnist5k ({epochs} epochs)")
        cfg = TrainConfig(epochs=epochs, lr=3e-3, augment="light", seed=seed, device=device)
        ckpt = pretrain_supervised(get_task("mnist5k"), ckpt_dir, config=cfg)
        err_console.print(f"[bold]2/2[/] transferring to digits with {shots} labels per class")
        src = Source.from_checkpoint(ckpt)
        rows = [transfer("digits", s, source=src, shots=shots, seed=seed, device=device) for s in STRATEGIES]
    result: dict[str, Any] = {"source": {"task": "mnist5k", "test_accuracy": ckpt.meta["metrics"]["test"]["accuracy"],
                         "checkpoint": str(out) if out else None},
              "target": "digits", "shots": shots, "seed": seed,
              "results": [{"strategy": r["strategy"], "head": r["info"].get("head"), **r["test"],
                           "seconds": r["seconds"]} for r in rows]}
    if json_out:
        emit_json(result)
        return
    table = Table(title=f"mnist5k -> digits, {shots} labelled images per class (test split, seed {seed})")
    for col in ("strategy", "head", "accuracy", "balanced acc.", "macro-F1", "ECE", "seconds"):
        table.add_column(col, justify="right" if col not in ("strategy", "head") else "left")
    for r in result["results"]:
        table.add_row(r["strategy"], str(r["head"]), f"{r['accuracy']:.3f}", f"{r['balanced_accuracy']:.3f}",
                      f"{r['macro_f1']:.3f}", f"{r['ece']:.3f}", f"{r['seconds']:.1f}")
    console.print(table)
    console.print(f"source model: smallcnn on mnist5k, test accuracy {result['source']['test_accuracy']:.3f}"
                  + (f", saved in {out}" if out else ""))
