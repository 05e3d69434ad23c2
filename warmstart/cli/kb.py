"""``warmstart kb``: inspect the knowledge base (list, show TASK, similar TASK), export its trials, fit the prior."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from warmstart.cli._common import JSON_HELP, cli_errors, console, emit_json
from warmstart.cli.tune import STORAGE_HELP

kb = typer.Typer(help="Inspect the knowledge base: past tasks, their studies and similar tasks.",
                 no_args_is_help=True, add_completion=False)


def _storage(storage: str | None) -> Any:
    import optuna

    from warmstart.knowledge import open_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return open_storage(storage, create=False)


@kb.command("list")
@cli_errors
def kb_list(storage: str = typer.Option(None, "--storage", help=STORAGE_HELP),
            json_out: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """List the studies of the knowledge base.

    Example: warmstart kb list --storage kb.db
    """
    from warmstart.knowledge import list_records

    recs = list_records(_storage(storage))
    if json_out:
        emit_json([r.to_json() for r in recs])
        return
    table = Table(title=f"{len(recs)} studies")
    for col in ("task", "kind", "complete", "pruned", "failed", "best"):
        table.add_column(col)
    for r in recs:
        table.add_row(r.task, r.kind, str(r.n_complete), str(r.n_pruned), str(r.n_failed),
                      "-" if r.best_value is None else f"{r.best_value:.4f}")
    console.print(table)


@kb.command("show")
@cli_errors
def kb_show(task: str = typer.Argument(..., help="Task key as listed by `warmstart kb list`."),
            storage: str = typer.Option(None, "--storage", help=STORAGE_HELP),
            json_out: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Show a task's meta-features, studies and best configurations.

    Example: warmstart kb show wine
    """
    from warmstart.knowledge import find_records

    recs = find_records(_storage(storage), task)
    if json_out:
        emit_json([r.to_json() for r in recs])
        return
    for r in recs:
        console.print(f"[bold]{r.study_name}[/bold]: {r.n_complete} complete, {r.n_pruned} pruned, "
                      f"{r.n_failed} failed; best {r.best_value} with {r.best_params}")
        console.print(f"  space: {', '.join(r.space)}")
    table = Table(title=f"meta-features of {task}")
    table.add_column("feature")
    table.add_column("value")
    for k, v in recs[0].meta_features.items():
        table.add_row(k, f"{v:.4g}")
    console.print(table)


@kb.command("similar")
@cli_errors
def kb_similar(task: str = typer.Argument(..., help="A knowledge-base task key, or any task name/path."),
               k: int = typer.Option(5, "--k", "-k", help="How many nearest tasks to show."),
               storage: str = typer.Option(None, "--storage", help=STORAGE_HELP),
               no_probe: bool = typer.Option(False, "--no-probe", help="Ignore the probe embedding."),
               json_out: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """The nearest past tasks by meta-feature distance (per-feature normalized L1, Feurer et al. 2015).

    Example: warmstart kb similar wine -k 3
    """
    from warmstart.knowledge import list_records, meta_features, rank_similar
    from warmstart.tasks import load_task

    recs = list_records(_storage(storage), counts=False)
    metas: dict[str, dict[str, float]] = {}
    for r in recs:
        metas.setdefault(r.task, r.meta_features)
    target = metas.pop(task, None)
    if target is None:
        target = meta_features(load_task(task))
    ranked = rank_similar(target, metas, k, exclude_prefixes=("probe_",) if no_probe else ())
    if json_out:
        emit_json([{"task": n, "distance": d} for n, d in ranked])
        return
    table = Table(title=f"tasks nearest to {task}")
    table.add_column("task")
    table.add_column("distance")
    for n, d in ranked:
        table.add_row(n, f"{d:.4f}")
    console.print(table)


@kb.command("export")
@cli_errors
def kb_export(output: str = typer.Option(..., "--output", "-o", help="The file to write (its folder must exist)."),
              fmt: str = typer.Option("csv", "--format", help="csv or parquet (parquet needs warmstart[tables])."),
              storage: str = typer.Option(None, "--storage", help=STORAGE_HELP),
              kind: str = typer.Option(None, "--kind", help="Only studies of this kind: tune, search or auto.")
              ) -> None:
    """Export every finished trial (task meta-features, recipe, score, curve) as one table.

    Example: warmstart kb export --format csv -o trials.csv
    """
    from warmstart.knowledge import export_trials

    n = export_trials(_storage(storage), output, fmt, kinds=kind)
    console.print(f"wrote {n} trials to {output}")


@kb.command("fit-prior")
@cli_errors
def kb_fit_prior(storage: str = typer.Option(None, "--storage", help=STORAGE_HELP),
                 output: str = typer.Option(None, "--output", "-o",
                                            help="The prior file to write (.json, or .json.gz compressed); default "
                                                 "$WARMSTART_CACHE/prior.json, the user's prior."),
                 base: str = typer.Option("shipped", "--base",
                                          help="Add another prior's training tasks: 'shipped' (the prior shipped "
                                               "with warmstart, when there is one), 'none', or a prior file."),
                 json_out: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Fit a prior (which recipes win on which tasks) on this knowledge base's trials.

    Validation scores only: the test metrics in the knowledge base are never read.

    Example: warmstart kb fit-prior --storage kb.db -o prior.json
    """
    from warmstart.knowledge import trial_rows
    from warmstart.knowledge.prior import Prior, fit_prior
    from warmstart.knowledge.prior_files import shipped_prior_path, user_prior_path

    rows = trial_rows(_storage(storage))
    if base == "none":
        start = None
    elif base == "shipped":
        shipped = shipped_prior_path()
        start = Prior.load(shipped) if shipped is not None else None
    else:
        start = Prior.load(base)
    prior = fit_prior(rows, target="score", base=start)
    path = prior.save(output or user_prior_path())
    prior.path = str(path)
    if json_out:
        emit_json({"path": str(path), "tasks": len(prior.tasks), "recipes": len(prior.candidates()),
                   "target": prior.table.target, "ranker_error": prior.ranker.sigma,
                   "gray_box": prior.has_gray_box, "portfolio": [m.to_json() for m in prior.portfolio]})
        return
    console.print(prior.describe())
    table = Table(title="greedy portfolio (evaluated first on a new task)")
    for col in ("#", "recipe", "best on", "mean regret", "seconds"):
        table.add_column(col)
    specs = {s.key(): s for s in prior.candidates()}
    for n, m in enumerate(prior.portfolio, 1):
        table.add_row(str(n), specs[m.key].describe(), f"{m.tasks_best} of {m.tasks_run} tasks",
                      f"{m.mean_regret:.4f}", "-" if m.seconds is None else f"{m.seconds:.1f}")
    console.print(table)
    console.print(f"wrote the prior to {path}")
