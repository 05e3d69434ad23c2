"""``warmstart tasks``: list the built-in and registered tasks."""

from __future__ import annotations

import typer
from rich.table import Table

from warmstart.cli._common import JSON_HELP, cli_errors, console, emit_json


@cli_errors
def tasks(
    all_variants: bool = typer.Option(False, "--all", help="Also list halves and shifted variants."),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """List built-in tasks (offline data) with their sizes.

    Example: warmstart tasks --all
    """
    from warmstart import get_task, list_tasks

    names = [n for n in list_tasks() if all_variants or "-" not in n]
    rows = [get_task(n).summary() for n in names]
    if json_out:
        emit_json(rows)
        return
    table = Table(title="warmstart tasks")
    for col in ("name", "modality", "input", "classes", "train", "val", "test"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["name"], r["modality"], "x".join(map(str, r["input_shape"])), str(len(r["classes"])),
                      str(r["n_train"]), str(r["n_val"]), str(r["n_test"]))
    console.print(table)
    if not all_variants:
        console.print("Variants: <base>-a / <base>-b (disjoint halves); image bases also "
                      "-inverted, -rotated, -noisy, -blurred, -thick, -thin, -scaled, -elastic, -lowcontrast "
                      "(e.g. mnist5k-b-inverted); class subsets TASK[0-4] or TASK[3,8]. --all lists them.")
