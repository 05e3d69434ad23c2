"""Shared CLI plumbing: error handling, JSON output, strategy options from extra arguments."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console

from warmstart.errors import ConfigError, WarmstartError

F = TypeVar("F", bound=Callable[..., Any])
console = Console()
err_console = Console(stderr=True)

EPOCHS_HELP = "Training epochs."
SEED_HELP = "Random seed (same seed, same result on CPU)."
DEVICE_HELP = "auto, cpu, cuda or cuda:N."
JSON_HELP = "Print a machine-readable JSON result on stdout (progress and messages go to stderr)."


def cli_errors(fn: F) -> F:
    """Turn a :class:`WarmstartError` into one line on stderr and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except WarmstartError as exc:
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            typer.echo(f"error: {msg}", err=True)
            raise typer.Exit(code=2) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(code=130) from None

    return wrapper  # type: ignore[return-value]


def emit_json(obj: Any) -> None:
    """Write ``obj`` as JSON to stdout."""
    sys.stdout.write(json.dumps(obj, indent=2, default=_jsonable) + "\n")
    sys.stdout.flush()


def _jsonable(o: Any) -> Any:
    if hasattr(o, "tolist"):
        return o.tolist()
    return str(o)


def parse_extra_options(args: list[str]) -> dict[str, str]:
    """Parse ``--name value`` / ``--name=value`` pairs into a dict (dashes become underscores).

    Raises:
        ConfigError: a stray argument or an option without a value.
    """
    out: dict[str, str] = {}
    i = 0
    while i < len(args):
        a = args[i]
        if not a.startswith("--") or a == "--":
            raise ConfigError(f"unexpected argument {a!r}")
        if "=" in a:
            k, v = a[2:].split("=", 1)
            i += 1
        else:
            if i + 1 >= len(args) or args[i + 1].startswith("--"):
                raise ConfigError(f"option {a} needs a value")
            k, v = a[2:], args[i + 1]
            i += 2
        out[k.replace("-", "_")] = v
    return out
