"""The ``warmstart`` command: one module per command, registered here.

:func:`main` is what the console script runs; it returns the exit code: 0 on success, 2 for a
user error (one ``error:`` line on stderr, nothing on stdout), 130 after Ctrl-C. Start-up is
light: the command modules import typer and rich only, and each command imports the library
(torch, Optuna) inside its body, so ``warmstart --help`` loads neither. The typer app is built
on first use (:func:`get_app`; ``warmstart.cli.main.app`` still works), inside :func:`main`'s
handling of Ctrl-C.
"""

from __future__ import annotations

import functools
import sys
from typing import Any

INTERRUPT_EXIT = 130
USAGE_EXIT = 2


@functools.cache
def get_app() -> Any:
    """The typer application with every command registered (built once)."""
    import typer

    from warmstart.cli._root import root
    from warmstart.cli.auto import auto
    from warmstart.cli.backbones_cmd import backbones
    from warmstart.cli.export import export
    from warmstart.cli.import_weights import import_weights
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
    extra = {"allow_extra_args": True, "ignore_unknown_options": True}

    app.callback(invoke_without_command=True)(root)
    app.command("quickstart")(quickstart)
    app.command("tasks")(tasks)
    app.command("backbones")(backbones)
    app.command("strategies")(strategies)
    app.command("pretrain")(pretrain)
    app.command("transfer", context_settings=extra)(transfer)
    app.command("tune", context_settings=extra)(tune)
    app.command("search", context_settings=extra)(search)
    app.add_typer(kb, name="kb")
    app.command("auto", context_settings=extra)(auto)
    app.command("import-weights")(import_weights)
    app.command("export")(export)
    app.command("predict")(predict)
    app.command("report")(report)
    return app


def __getattr__(name: str) -> Any:
    """``warmstart.cli.main.app``: the typer application, built on first access."""
    if name == "app":
        return get_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _is_click_error(exc: BaseException) -> bool:
    """A click (or typer's vendored click) usage error: bad option value, unknown or missing option."""
    return hasattr(exc, "format_message") and hasattr(exc, "exit_code")


def _exit_code(exc: BaseException) -> int | None:
    """The code of a click/typer ``Exit`` (whichever click raised it), else None."""
    if type(exc).__name__ == "Exit" and hasattr(exc, "exit_code"):
        return int(exc.exit_code or 0)
    return None


def main(argv: list[str] | None = None) -> int:
    """Run ``warmstart ARGV`` (default ``sys.argv[1:]``) and return its exit code.

    Returns:
        0 on success (and for the help that a bare ``warmstart`` or ``warmstart kb`` shows); 2 for a
        user error or a usage error (one ``error:`` line on stderr); 130 after Ctrl-C (one line on
        stderr); the code of an explicit ``typer.Exit`` otherwise.

    Raises:
        Exception: any exception that is neither a :class:`~warmstart.errors.WarmstartError` nor a
            usage error: a bug, which should show its traceback.
    """
    import typer

    from warmstart.cli import _common

    _common.INVOCATION[:] = list(sys.argv[1:] if argv is None else argv)
    try:
        app = get_app()
        # click >= 8.2 and typer's vendored click *return* the exit code of an Exit when
        # standalone_mode is False (older click raised it); handle both.
        rv = app(args=argv, standalone_mode=False, prog_name="warmstart")
    except KeyboardInterrupt:  # outside a command (parsing, building the app)
        typer.echo("interrupted", err=True)
        return INTERRUPT_EXIT
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Exception as exc:
        code = _exit_code(exc)
        if code is not None:
            return code
        if not _is_click_error(exc):
            if type(exc).__name__ == "Abort":  # click's Ctrl-C/EOF at a prompt
                typer.echo("interrupted", err=True)
                return INTERRUPT_EXIT
            raise
        if type(exc).__name__ == "NoArgsIsHelpError":  # `warmstart` or `warmstart kb` alone: the help, shown
            text = exc.format_message().strip()  # type: ignore[attr-defined]
            if text:  # (typer's rich help is already printed; plain click's is the message)
                typer.echo(text)
            return 0
        msg = exc.format_message().strip().splitlines()  # type: ignore[attr-defined]
        ctx = getattr(exc, "ctx", None)
        hint = f" (see: {ctx.command_path} --help)" if ctx is not None else ""
        typer.echo(f"error: {msg[0] if msg else type(exc).__name__}{hint}", err=True)
        return USAGE_EXIT
    # Commands return None (cli_errors drops their value), so an int here is an exit code.
    return rv if isinstance(rv, int) and not isinstance(rv, bool) else 0


def run() -> None:
    """Console-script entry point: ``sys.exit(main())``; Ctrl-C at any point exits 130 with one line."""
    try:
        code = main()
    except KeyboardInterrupt:  # e.g. between main()'s handlers
        sys.stderr.write("interrupted\n")
        code = INTERRUPT_EXIT
    if code == INTERRUPT_EXIT:  # a Ctrl-C can leave a heartbeat thread that would keep the process alive
        from warmstart.search.liveness import stop_orphaned_heartbeats

        stop_orphaned_heartbeats()
    sys.exit(code)
