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
    """Run the CLI with ``argv``; return the exit code (2 for user errors)."""
    try:
        app(args=argv, standalone_mode=False)
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except SystemExit as exc:  # click's own exits
        return int(exc.code or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # click usage errors have exit_code
        code = getattr(exc, "exit_code", None)
        if code is not None and hasattr(exc, "show"):
            exc.show()
            return int(code)
        raise
    return 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
