"""The top-level ``warmstart`` callback: ``--version``, and help when no command is given."""

from __future__ import annotations

import typer


def root(ctx: typer.Context,
         version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True)) -> None:
    """Start every new deep-learning task from what earlier tasks learned."""
    if version:
        from warmstart._version import __version__

        typer.echo(f"warmstart {__version__}")
        raise typer.Exit()
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit()
