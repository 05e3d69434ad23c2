"""``warmstart tune``: warm-started hyperparameter search for one strategy on one task."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from warmstart.cli._common import (
    CONTINUE_HINT,
    DEVICE_HELP,
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
    quiet_optuna,
    resolve_source,
)

BUDGET_HELP = "Trials for the whole study (50) or wall time (90s, 10m, 2h); completed + pruned trials count."
STORAGE_HELP = ("Knowledge base: sqlite:///FILE.db, postgresql://..., journal:FILE.log, a .db/.log path; "
                "default $WARMSTART_STORAGE or <cache>/knowledge.db.")


@cli_errors(interrupted=CONTINUE_HINT)
def tune(
    ctx: typer.Context,
    task: str = typer.Option(..., "--task", "-t", help="Target task name or data path."),
    strategy: str = typer.Option("finetune", "--strategy", "-s", help="Strategy whose hyperparameters to tune."),
    budget: str = typer.Option("20", "--budget", "-b", help=BUDGET_HELP),
    warm_start: str = typer.Option(
        "auto", "--warm-start", "-w", help="none, topk, box, quantile, cmaes or auto (picks one and says why)."),
    storage: str = typer.Option(None, "--storage", help=STORAGE_HELP),
    jobs: int = typer.Option(1, "--jobs", "-j", help="Worker processes on this machine (one torch thread each)."),
    shots: int = typer.Option(None, "--shots", help="Few-shot protocol: labels per class (validation by CV)."),
    source: str = typer.Option(None, "--source", help=SOURCE_HELP),
    weights: Path = typer.Option(None, "--weights", help=WEIGHTS_HELP),
    image_size: int = typer.Option(None, "--image-size", help=IMAGE_SIZE_HELP),
    source_task: str = typer.Option(None, "--source-task", help="Source task (pretrained first if no --source)."),
    metric: str = typer.Option("val_accuracy", "--metric", help="val_accuracy, val_macro_f1 or val_balanced_accuracy."),
    pruner: str = typer.Option("hyperband", "--pruner", help="hyperband, sha (successive halving) or none."),
    artifacts: str = typer.Option(None, "--artifacts", help="Save each trial's model to this folder or s3://bucket."),
    trial_timeout: float = typer.Option(
        None, "--trial-timeout", help="Seconds a trial may run; a longer one is recorded as failed, search goes on."),
    seed: int = typer.Option(0, "--seed", help=SEED_HELP),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    track: str = typer.Option(None, "--track", help=TRACK_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
    skip_bad: bool = typer.Option(False, "--skip-bad", help=SKIP_BAD_HELP),
    text_column: str = typer.Option(None, "--text-column", help=TEXT_COLUMN_HELP),
) -> None:
    """Tune a strategy's hyperparameters on a task, warm-started from similar past tasks.

    The study lives in the knowledge base; running the same command again continues it, and the
    same command on other machines with the same --storage joins it. Fixed hyperparameters are
    options too (e.g. --epochs 5 keeps epochs out of the search).

    Example: warmstart tune --task wine --strategy scratch --budget 30 --warm-start auto --epochs 10
    """
    from warmstart import tune as run_tune

    quiet_optuna()
    check_device(device)
    params: dict[str, object] = dict(parse_extra_options(list(ctx.args)))
    # the task first: a bad task or option is reported before a source is imported (seconds, and a line of its own)
    target = load_target(task, skip_bad, text_column)
    src = resolve_source(source, None if weights is None else str(weights), image_size)
    result = run_tune(target, strategy, budget=budget, warm_start=warm_start, storage=storage, jobs=jobs,
                      shots=shots, seed=seed, params=params, source=src, source_task=source_task,
                      metric=metric, pruner=pruner, device=device, artifacts=artifacts, trial_timeout=trial_timeout,
                      track=track)
    if json_out:
        emit_json(result)
        return
    console.print(result["warm_start_reason"])
    for note in result["notes"]:
        console.print(f"warning: {note}")
    tr = result["trials"]
    table = Table(title=f"{result['study']} ({tr['counted']} trials: {tr['complete']} complete, "
                        f"{tr['pruned']} pruned; {tr['failed']} failed)")
    table.add_column("")
    table.add_column("value")
    if result.get("source"):
        table.add_row("source", str(result["source"]))
    table.add_row(f"best validation {metric}", "-" if result["best_value"] is None else f"{result['best_value']:.4f}")
    for k, v in (result["best_params"] or {}).items():
        table.add_row(k, f"{v:.4g}" if isinstance(v, float) else str(v))
    for k, v in (result["test"] or {}).items():
        table.add_row(f"test {k} (reporting only)", f"{v:.4f}")
    console.print(table)
    for reason in result["fail_reasons"]:
        console.print(f"failed trial: {reason}")
