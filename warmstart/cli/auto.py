"""``warmstart auto``: the best model for a task within a budget, with a report and a saved model."""

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
    TEXT_COLUMN_HELP,
    TRACK_HELP,
    WEIGHTS_HELP,
    check_device,
    cli_errors,
    console,
    emit_json,
    invocation,
    load_target,
    parse_extra_options,
    quiet_optuna,
    resolve_sources,
    tracking,
)


@cli_errors(interrupted=CONTINUE_HINT)
def auto(
    ctx: typer.Context,
    task: str = typer.Option(..., "--task", "-t", help="Target task name or data path."),
    budget: str = typer.Option("10m", "--budget", "-b", help="Trials (20) of the search, or wall time "
                               "(90s, 10m, 2h) of the whole command, pretraining of sources included."),
    source: list[str] = typer.Option([], "--source", help="Source checkpoint folder, timm:NAME or hf:NAME|FOLDER "
                                     "(repeatable; model-zoo names are imported once into cached checkpoints)."),
    weights: Path = typer.Option(None, "--weights", help=WEIGHTS_HELP + " With one timm: --source only."),
    image_size: int = typer.Option(None, "--image-size", help=IMAGE_SIZE_HELP),
    source_task: list[str] = typer.Option([], "--source-task", help="Source task (repeatable)."),
    storage: str = typer.Option(None, "--storage", help="Knowledge base: SQLite file, SQLAlchemy URL or journal file."),
    shots: int = typer.Option(None, "--shots", help="Labels per class in total (0: unlabelled pool only)."),
    strategy: list[str] = typer.Option([], "--strategy", "-s", help="Restrict to these strategies (repeatable)."),
    out: Path = typer.Option(None, "--out", "-o", help="Run folder (default runs/<task>-auto)."),
    seed: int = typer.Option(0, "--seed", help=SEED_HELP),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    track: str = typer.Option(None, "--track", help=TRACK_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
    skip_bad: bool = typer.Option(False, "--skip-bad", help=SKIP_BAD_HELP),
    text_column: str = typer.Option(None, "--text-column", help=TEXT_COLUMN_HELP),
    ssl_source: bool = typer.Option(False, "--ssl-source", help="Also consider a SimCLR source pretrained on the "
                                    "target's own images (labels unused) plus the source tasks' images."),
    prior: str = typer.Option("auto", "--prior", help="Prior that orders the first trials and shrinks the final "
                              "choice: auto (your warmstart kb fit-prior, else the shipped one, else the "
                              "hand-written rules), none (the rules), or a prior file."),
) -> None:
    """Rank sources, pick strategies, search them jointly within the budget, retrain and save the winner.

    Fixed hyperparameters for every strategy can be given as options, e.g. --epochs 5.

    Example: warmstart auto --task digits --shots 5 --budget 10m --source-task mnist5k
    """
    from warmstart import auto as run_auto
    from warmstart.knowledge.prior_files import load_prior

    quiet_optuna()
    check_device(device)
    chosen_prior = prior if prior in ("auto", "none") else load_prior(prior)  # a bad file fails before any work
    params = dict(parse_extra_options(list(ctx.args)))
    # the task first: a bad task or option is reported before a source is imported (seconds, and a line of its own)
    target = load_target(task, skip_bad, text_column)
    sources = resolve_sources(list(source), None if weights is None else str(weights), image_size)
    with tracking(track, f"auto:{Path(task).name}"):
        result = run_auto(target, budget=budget, sources=list(sources), source_tasks=list(source_task),
                          ssl_source=ssl_source, prior=chosen_prior,
                          storage=storage, shots=shots, seed=seed, device=device, out=out,
                          strategies=list(strategy) or None, params=params, command=invocation())
    if json_out:
        emit_json(result)
        return
    t = Table(title="sources (ranked without training)")
    for col in ("source", "LogME", "LEEP", "domain gap"):
        t.add_column(col)
    for s in result["sources"]:
        t.add_row(s["source"], *(f"{s[k]:.3f}" if s[k] is not None else "-" for k in ("logme", "leep", "domain_gap")))
    console.print(t)
    for note in result["notes"]:
        console.print(f"- {note}")
    if result["strategies"]:  # none when auto fitted the prior's first pick without a search
        t = Table(title="strategies tried (validation score)")
        for col in ("strategy", "trials", "best"):
            t.add_column(col)
        for s in result["strategies"]:
            t.add_row(str(s["strategy"]), str(s["trials"]), f"{s['best']:.4f}" if s["best"] is not None else "-")
        console.print(t)
    scored = [t for t in result["trials"] if "posterior" in t]
    if scored:
        t = Table(title="completed trials: validation score, the prior's prediction, posterior mean, "
                        "gain of the final fit's length")
        for col in ("trial", "strategy", "validation", "predicted", "posterior", "length gain"):
            t.add_column(col)
        for r in scored:
            t.add_row(str(r["number"]), str(r["strategy"]),
                      *(f"{r.get(k) or 0.0:.4f}" for k in ("value", "predicted", "posterior", "length_gain")))
        console.print(t)
    console.print(f"chosen as {result['selection']['text']}")
    w = result["winner"]
    console.print(f"winner: [bold]{w['label']}[/] — test accuracy {w['test']['accuracy']:.4f} "
                  f"(search {result['search_seconds']:.0f}s, total {result['total_seconds']:.0f}s)")
    if result.get("model"):
        console.print(f"model saved in {result['model']}; report {result['report']}")
