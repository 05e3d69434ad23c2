"""Shared CLI plumbing: error handling, JSON output, strategy options from extra arguments."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import sys
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import typer
from rich.console import Console

from warmstart.errors import ConfigError, WarmstartError

F = TypeVar("F", bound=Callable[..., Any])
# Rich consoles look up sys.stdout / sys.stderr on every write, so redirected streams are honoured.
console = Console()
err_console = Console(stderr=True)

EPOCHS_HELP = "Training epochs."
SEED_HELP = "Random seed (same seed, same result on CPU)."
DEVICE_HELP = "auto, cpu, cuda or cuda:N."
JSON_HELP = "Print a machine-readable JSON result on stdout (progress and messages go to stderr)."
SKIP_BAD_HELP = ("Leave out an image folder's unreadable files (counted on stderr) instead of stopping with "
                 "the list of them.")

INTERRUPTED = "interrupted"
#: the arguments of the running ``warmstart`` invocation (set by :func:`warmstart.cli.main.main`)
INVOCATION: list[str] = []
RESUME_HINT = "interrupted; run the same command with --resume to continue"
CONTINUE_HINT = "interrupted; finished trials are kept, run the same command again to continue"
INTERRUPT_EXIT = 130


def cli_errors(fn: F | None = None, *, interrupted: str | Callable[[dict[str, Any]], str] = INTERRUPTED) -> Any:
    """Decorate a command: user errors and Ctrl-C become one line on stderr and an exit code.

    A :class:`WarmstartError` prints ``error: <first line>`` and exits 2; a KeyboardInterrupt
    (also during the command's imports) prints ``interrupted`` — or the line given, or the line
    ``interrupted(kwargs)`` returns for the command's keyword arguments — and exits 130. Any other
    exception propagates: it is a bug. The command's return value is dropped (a command's exit
    code is 0 unless it raises). Use as ``@cli_errors`` or ``@cli_errors(interrupted=CONTINUE_HINT)``.
    """

    def decorate(f: F) -> F:
        @functools.wraps(f)
        def wrapper(*args: Any, **kwargs: Any) -> None:
            try:
                f(*args, **kwargs)
            except WarmstartError as exc:
                msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                typer.echo(f"error: {msg}", err=True)
                raise typer.Exit(code=2) from None
            except KeyboardInterrupt:
                typer.echo(interrupted if isinstance(interrupted, str) else interrupted(kwargs), err=True)
                raise typer.Exit(code=INTERRUPT_EXIT) from None

        return wrapper  # type: ignore[return-value]

    return decorate(fn) if fn is not None else decorate


def check_device(device: str) -> None:
    """Refuse ``--device`` values this machine cannot run before any work starts.

    Raises:
        ConfigError: an unknown device, CUDA asked for without a GPU, or ``cuda:N`` past the last GPU.
    """
    import torch

    from warmstart.engine.device import resolve_device

    dev = resolve_device(device)
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ConfigError(f"device {device!r} asked for but this machine has {torch.cuda.device_count()} "
                          f"CUDA device(s) (cuda:0 to cuda:{torch.cuda.device_count() - 1})")


TEXT_COLUMN_HELP = ("Text tasks: the CSV's text column (default text: a CSV with a column text is a text task; "
                    "a column given here must exist).")


def load_target(spec: str, skip_bad: bool, text_column: str | None = None) -> Any:
    """``spec`` itself, or the task loaded with ``--skip-bad`` / ``--text-column``.

    With ``skip_bad``, the task is loaded without its unreadable files and ``skipped N
    unreadable files`` (naming the first few) is printed on stderr. With ``text_column``,
    ``spec`` must be a ``.csv``/``.tsv`` file and is loaded as a text task with that text
    column (by default a CSV with a column ``text`` is one).

    Raises:
        ConfigError: ``text_column`` for a target that is not a CSV file.
        UnknownNameError, DataError: as :func:`warmstart.load_task` (a CSV without the text
            column names the column and lists the columns it has).
    """
    if not skip_bad and text_column is None:
        return spec
    from pathlib import Path

    from warmstart import load_task

    options: dict[str, Any] = {"skip_bad": True} if skip_bad else {}
    if text_column is not None:
        if Path(spec).suffix.lower() not in (".csv", ".tsv") or not Path(spec).is_file():
            raise ConfigError(f"--text-column goes with a CSV task file (--task data.csv); {spec!r} is not one")
        options["text_column"] = text_column
    task = load_task(spec, **options)
    if not skip_bad:
        return task
    skipped = [str(f) for f in task.provenance.get("skipped_files", [])]
    shown = ": " + ", ".join(skipped[:3]) + (f" and {len(skipped) - 3} more" if len(skipped) > 3 else "")
    typer.echo(f"skipped {len(skipped)} unreadable files{shown if skipped else ''}", err=True)
    return task


class _DropInterruptLogs(logging.Filter):
    """Drops the logs Ctrl-C causes: a record whose exception is, or was raised while handling, a KeyboardInterrupt
    (Optuna's report of the trial it stopped; SQLAlchemy's "Error closing cursor" when it lands inside a storage
    query), and Optuna's "failed with value None" after one."""

    def __init__(self) -> None:
        super().__init__()
        self.interrupted = False

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        while exc is not None and not isinstance(exc, KeyboardInterrupt):
            exc = exc.__cause__ or exc.__context__
        if exc is not None:
            self.interrupted = True
            return False
        return not (self.interrupted and "failed with value None" in record.getMessage())


def quiet_optuna() -> None:
    """Optuna logs warnings only, and neither it nor its storage's SQLAlchemy logs a traceback that Ctrl-C caused.

    The interrupt itself is reported by :func:`cli_errors` as one line. SQLAlchemy's own errors still reach stderr
    (through a handler of its own, where Python's last-resort handler printed them).
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    handlers = list(logging.getLogger("optuna").handlers)
    sql = logging.getLogger("sqlalchemy")
    if not sql.handlers:
        sql.addHandler(logging.StreamHandler())  # stderr, as the last-resort handler wrote
    for handler in [*handlers, *sql.handlers]:
        if not any(isinstance(f, _DropInterruptLogs) for f in handler.filters):
            handler.addFilter(_DropInterruptLogs())


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


def invocation() -> str:
    """The running command as a user would type it again (``warmstart ARGS``), shell-quoted."""
    import shlex

    return "warmstart " + " ".join(shlex.quote(a) for a in INVOCATION)


TRACK_HELP = ("Log per-epoch curves to mlflow (MLFLOW_TRACKING_URI, default ./mlruns/mlflow.db) or "
              "tensorboard (./runs); needs warmstart[track].")


@contextlib.contextmanager
def tracking(track: str | None, run_name: str) -> Iterator[None]:
    """Log every training epoch inside the block to MLflow or TensorBoard (nothing when ``track`` is None).

    Raises:
        ConfigError: an unknown tracker, or its package is not installed (names the extra).
    """
    if track is None:
        yield
        return
    from warmstart.engine.callbacks import extra_callbacks
    from warmstart.engine.tracking import make_tracker

    with make_tracker(track, run_name) as tracker, extra_callbacks(tracker):
        yield


SOURCE_HELP = "Source: a checkpoint folder, timm:NAME or hf:NAME|FOLDER."
WEIGHTS_HELP = ("Local weights file (.safetensors, .pth, .bin; timm, torchvision-ResNet or EfficientNet-PyTorch "
                "layout, read without running pickled code) for a --source timm:NAME.")
IMAGE_SIZE_HELP = "Square image size in pixels a timm: source works at, instead of its pretrained default."


def resolve_sources(sources: list[str], weights: str | None, image_size: int | None) -> list[Any]:
    """The sources, each model-zoo name imported once (cached) into a checkpoint folder.

    A ``timm:`` source takes ``weights`` (a local file; there must be exactly one ``timm:``
    source then) and ``image_size`` (its input size, square, instead of the pretrained
    default); an ``hf:`` source takes neither. Checkpoint folders pass through unchanged (as
    the strings given). A zoo name becomes a :class:`~warmstart.source.Source` of the imported
    folder whose ``spec`` is the name as given (``timm:NAME with weights FILE``), so recipes and
    reports show it rather than only the cache path. The import is
    :meth:`warmstart.source.Source.checkpoint` (cached under ``$WARMSTART_CACHE/zoo``, keyed by
    name, file bytes and size).

    Returns:
        One ``str`` (a checkpoint folder) or ``Source`` (an imported zoo model) per source.

    Raises:
        ConfigError: ``--weights`` without exactly one ``timm:`` source, ``--image-size`` without a
            ``timm:`` source or below 16, or any error of the import (unreadable file, no layout fits,
            a pickle that is not a plain state dict, offline without a file).
        UnknownNameError: an unknown timm name (lists close matches).
    """
    from warmstart.backbones.zoo import is_zoo_name
    from warmstart.source import Source

    timm_sources = [s for s in sources if str(s).startswith("timm:")]
    if weights is not None and len(timm_sources) != 1:
        raise ConfigError("--weights FILE goes with one timm model: --source timm:NAME --weights FILE")
    if image_size is not None:
        if not timm_sources:
            raise ConfigError("--image-size N goes with a timm model: --source timm:NAME --image-size N")
        if image_size < 16:
            raise ConfigError(f"--image-size must be at least 16 pixels, got {image_size}")
    out: list[Any] = []
    for s in sources:
        if not is_zoo_name(s):
            out.append(s)
            continue
        timm_src = s.startswith("timm:")
        src = Source(zoo=s, weights=weights if timm_src else None,
                     input_size=(image_size, image_size) if timm_src and image_size is not None else None)
        out.append(Source(path=src.checkpoint(progress=False).path, spec=src.zoo_description()))
    return out


def resolve_source(source: str | None, weights: str | None, image_size: int | None) -> Any:
    """One optional source as :func:`resolve_sources` resolves it (None stays None, after the same checks)."""
    resolved = resolve_sources([] if source is None else [source], weights, image_size)
    return resolved[0] if resolved else None
