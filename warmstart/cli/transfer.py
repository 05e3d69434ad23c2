"""``warmstart transfer``: evaluate one strategy from a source on a target task."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from warmstart.cli._common import (
    DEVICE_HELP,
    EPOCHS_HELP,
    IMAGE_SIZE_HELP,
    JSON_HELP,
    SEED_HELP,
    SKIP_BAD_HELP,
    SOURCE_HELP,
    TEXT_COLUMN_HELP,
    TRACK_HELP,
    WEIGHTS_HELP,
    check_device,
    cli_errors,
    console,
    emit_json,
    load_target,
    parse_extra_options,
    resolve_source,
    tracking,
)


@cli_errors
def transfer(
    ctx: typer.Context,
    task: str = typer.Option(..., "--task", "-t", help="Target task name or data path."),
    strategy: str = typer.Option(
        "finetune", "--strategy", "-s", help="Strategy name (warmstart strategies lists them)."),
    source: str = typer.Option(None, "--source", help=SOURCE_HELP),
    weights: Path = typer.Option(None, "--weights", help=WEIGHTS_HELP),
    image_size: int = typer.Option(None, "--image-size", help=IMAGE_SIZE_HELP),
    source_task: str = typer.Option(
        None, "--source-task",
        help="Source task (data for methods that train on it; pretrained first when no --source)."),
    shots: int = typer.Option(
        None, "--shots", help="Labelled examples per class in total (few-shot protocol); default: all."),
    epochs: int = typer.Option(None, "--epochs", help=EPOCHS_HELP + " Default: the strategy's."),
    seed: int = typer.Option(0, "--seed", help=SEED_HELP + " Also picks the few-shot support set."),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    out: Path = typer.Option(None, "--out", "-o", help="Save the trained model as a checkpoint folder."),
    track: str = typer.Option(None, "--track", help=TRACK_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
    skip_bad: bool = typer.Option(False, "--skip-bad", help=SKIP_BAD_HELP),
    text_column: str = typer.Option(None, "--text-column", help=TEXT_COLUMN_HELP),
) -> None:
    """Transfer a source to a target task with one strategy; report test metrics.

    Strategy hyperparameters are options too, e.g. --lr 0.001 --head new.

    Example: warmstart transfer --source src/ --task digits --shots 5 --strategy finetune

    Example: warmstart transfer --source timm:efficientnet_lite0 --weights lite0.pth --task photos/ -s linear_probe
    """
    from warmstart import transfer as run_transfer

    check_device(device)
    params: dict[str, object] = dict(parse_extra_options(list(ctx.args)))
    if epochs is not None:
        params["epochs"] = epochs
    # the task first: a bad task or option is reported before a source is imported (seconds, and a line of its own)
    target = load_target(task, skip_bad, text_column)
    src = resolve_source(source, None if weights is None else str(weights), image_size)
    with tracking(track, f"transfer:{strategy}:{Path(task).name}"):
        result = run_transfer(target, strategy, source=src, source_task=source_task, shots=shots, seed=seed,
                              device=device, params=params, out=out)
    if json_out:
        emit_json(result)
        return
    table = Table(title=f"{strategy} on {result['task']}" + (f" ({shots} shots/class)" if shots is not None else ""))
    for col in ("metric", "value"):
        table.add_column(col)
    for k, v in result["test"].items():
        table.add_row(f"test {k}", f"{v:.4f}")
    info = result["info"]
    if "source" in info:
        table.add_row("source", str(info["source"]))
    table.add_row("head", str(info.get("head", "-")))
    if "select_by" in info:
        table.add_row("selected by", f"{info['select_by']} (epoch {info.get('selected_epoch', '?')})")
    if "init" in info:
        table.add_row("init", str(info["init"]))
    table.add_row("seconds", f"{result['seconds']:.1f}")
    console.print(table)
    for note in result["info"].get("adapted", []):
        console.print(f"adapted: {note}")
    if out is not None:
        console.print(f"saved {out}")
