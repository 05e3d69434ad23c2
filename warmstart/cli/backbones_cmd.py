"""``warmstart backbones``: list the backbone registry."""

from __future__ import annotations

import typer
from rich.table import Table

from warmstart.cli._common import JSON_HELP, cli_errors, console, emit_json


@cli_errors
def backbones(json_out: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """List available backbones.

    Example: warmstart backbones
    """
    from warmstart.backbones import DESCRIPTIONS

    if json_out:
        emit_json(DESCRIPTIONS)
        return
    table = Table(title="warmstart backbones")
    table.add_column("name")
    table.add_column("description")
    for name, desc in DESCRIPTIONS.items():
        table.add_row(name, desc)
    console.print(table)
