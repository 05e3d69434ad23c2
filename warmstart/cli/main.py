"""The ``warmstart`` command: one module per command, registered here."""

from __future__ import annotations

import sys

import typer

from warmstart.cli.auto import auto
from warmstart.cli.backbones_cmd import backbones
from warmstart.cli.export import export
from warmstart.cli.kb import kb
from warmstart.cli.predict import predict
from warmstart.cli.pretrain import pretrain
from warmstart.cli.quickstart import quickstart
from warmstart.cli.report import report
from warmstart.cli.search import search
from warmstart.cli.strategies_cmd import strategies
from warmstart.cli.tasks_cmd import tasks
from warmstart.cli.transfer import transfer
from warmstart.cli.tune import tune

app = typer.Typer(
    name="warmstart",
    help="Start every new deep-learning task from what earlier tasks learned.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
EXTRA = {"allow_extra_args": True, "ignore_unknown_options": True}


@app.callback(invoke_without_command=True)
def _root(ctx: typer.Context,
          version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True)) -> None:
    """Start every new deep-learning task from what earlier tasks learned."""
    if version:
        from warmstart._version import __version__

        typer.echo(f"warmstart {__version__}")
        raise typer.Exit()
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit()


app.command("quickstart")(quickstart)
app.command("tasks")(tasks)
app.command("backbones")(backbones)
app.command("strategies")(strategies)
app.command("pretrain")(pretrain)
app.command("transfer", context_settings=EXTRA)(transfer)
app.command("tune", context_settings=EXTRA)(tune)
app.command("search", context_settings=EXTRA)(search)
app.add_typer(kb, name="kb")
app.command("auto", context_settings=EXTRA)(auto)
app.command("export")(export)
app.command("predict")(predict)
app.command("report")(report)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI with ``argv``; return the exit code (2 for user errors, printed as one line)."""
    try:
        app(args=argv, standalone_mode=False, prog_name="warmstart")
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except SystemExit as exc:
        return int(exc.code or 0)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return 130
    except Exception as exc:
        # click's (or typer's vendored click's) usage errors: bad option values, unknown or missing options
        if not (hasattr(exc, "format_message") and hasattr(exc, "exit_code")):
            if type(exc).__name__ == "Abort":
                typer.echo("aborted", err=True)
                return 130
            raise
        msg = exc.format_message().strip().splitlines()
        ctx = getattr(exc, "ctx", None)
        hint = f" (see: {ctx.command_path} --help)" if ctx is not None else ""
        typer.echo(f"error: {msg[0] if msg else type(exc).__name__}{hint}", err=True)
        return int(exc.exit_code)
    return 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
