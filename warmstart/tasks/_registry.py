"""The task registry: built-in tasks, user-registered tasks and data on disk."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from warmstart.errors import UnknownNameError
from warmstart.tasks._builtin import build_builtin, builtin_names, parse_name
from warmstart.tasks._shifts import SHIFTS
from warmstart.tasks._task import Task

_USER: dict[str, Callable[[], Task]] = {}


def register_task(name: str, factory: Callable[[], Task]) -> None:
    """Register a task factory under ``name`` (overrides nothing built in).

    Raises:
        ValueError: ``name`` is a built-in task name.
    """
    if parse_name(name) is not None:
        raise ValueError(f"{name!r} is a built-in task name")
    _USER[name] = factory


def list_tasks() -> list[str]:
    """Names of every registered task: built-ins first, then user-registered ones."""
    return [*builtin_names(), *sorted(_USER)]


def get_task(name: str) -> Task:
    """Build a registered task by name, validated.

    Raises:
        UnknownNameError: no such task (the message lists the valid names).
    """
    if name in _USER:
        return _USER[name]().validate()
    if parse_name(name) is not None:
        return build_builtin(name).validate()
    raise UnknownNameError("task", name, _short_names())


def _short_names() -> list[str]:
    bases = [n for n in builtin_names() if "-" not in n]
    return [*bases, "<base>-a|-b", f"<image base>[-a|-b]-{'|'.join(SHIFTS)}", "<built-in task>[<classes>]",
            *sorted(_USER)]


def load_task(spec: str | Path, **options: object) -> Task:
    """Load a task from a registry name or from data on disk.

    ``spec`` is a registered name, an image folder (one subfolder per class), a
    CIFAR-10 batches folder, an ``.npz`` file with ``X`` and ``y``, or a ``.csv``
    file with a label column. ``options`` go to the file loader
    (e.g. ``label_column`` for CSV; ``skip_bad=True`` leaves out an image
    folder's unreadable files, listed in ``task.provenance["skipped_files"]``,
    instead of raising one DataError that names them all). Registered names
    ignore ``options``.

    Raises:
        UnknownNameError: neither a registered name nor an existing path.
        DataError: the data on disk is malformed (the message names file and row).
    """
    text = str(spec)
    if text in _USER or parse_name(text) is not None:
        return get_task(text)
    path = Path(text)
    if path.exists():
        from warmstart.tasks.loaders import load_path

        return load_path(path, **options).validate()
    raise UnknownNameError("task", text, [*_short_names(), "<path to folder, .npz or .csv>"])
