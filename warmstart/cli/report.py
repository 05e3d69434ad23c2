"""``warmstart report``: (re)write the HTML report of a run folder."""

from __future__ import annotations

from pathlib import Path

import typer

from warmstart.cli._common import cli_errors, console


@cli_errors
def report(
    run: Path = typer.Argument(..., help="Run folder (with run.json) or a run.json file."),
    out: Path = typer.Option(None, "--out", "-o", help="HTML file (default: RUN/report.html)."),
) -> None:
    """Write a self-contained HTML report (plots embedded, opens offline).

    Example: warmstart report runs/digits-auto
    """
    from warmstart import write_report

    path = write_report(run, out)
    console.print(f"report written to [bold]{path}[/]")
