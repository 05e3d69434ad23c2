"""User data on disk → Task: image folders, ``.npz``, CSV and CIFAR-10 batch folders.

:func:`load_path` looks at what the path is and calls the loader for that
format; each loader checks its input and raises a one-line
:class:`~warmstart.errors.DataError` naming the file (and row) at fault.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from warmstart.errors import ConfigError, DataError
from warmstart.tasks._task import Task
from warmstart.tasks.loaders import _cifar, _csv, _image_folder, _npz
from warmstart.tasks.loaders._image_files import IMAGE_EXTENSIONS, ImageFileDataset, decode_image, probe_image
from warmstart.tasks.loaders._image_folder import image_files

FORMATS: dict[str, tuple[dict[str, Any], Callable[..., Task]]] = {
    "image folder": (_image_folder.OPTIONS, _image_folder.load_image_folder),
    "CIFAR-10 batches folder": (_cifar.OPTIONS, _cifar.load_cifar),
    "npz file": (_npz.OPTIONS, _npz.load_npz),
    "csv file": (_csv.OPTIONS, _csv.load_csv),
}


def detect_format(path: Path) -> tuple[str, Path]:
    """Which loader reads ``path``: returns (format name, path to load).

    A folder holding only a CIFAR-10 batches folder (e.g. the unpacked archive's
    parent) resolves to that folder.

    Raises:
        DataError: the path does not exist or is a file of an unsupported type.
    """
    if path.is_dir():
        if _cifar.is_cifar_dir(path):
            return "CIFAR-10 batches folder", path
        visible = [p for p in path.iterdir() if not p.name.startswith(".")]
        if len(visible) == 1 and _cifar.is_cifar_dir(visible[0]):
            return "CIFAR-10 batches folder", visible[0]
        return "image folder", path
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return "npz file", path
    if suffix in (".csv", ".tsv"):
        return "csv file", path
    raise DataError(
        f"{path}: unsupported file type {suffix or '(none)'!r}; expected an image folder, a "
        f"CIFAR-10 batches folder, an .npz file (X, y) or a .csv file"
    )


def load_path(path: str | Path, **options: Any) -> Task:
    """Load a task from data on disk.

    Args:
        path: An image folder (one subfolder per class, optional ``unlabeled/``),
            a CIFAR-10 batches folder (python or binary version), an ``.npz`` file
            with ``X`` and ``y``, or a ``.csv``/``.tsv`` file with a label column.
        **options: Options of that format's loader; options set to None mean
            "the default". Image folder: ``image_size``, ``memory_budget_mb``,
            ``seed``, ``skip_bad`` (leave out unreadable image files). CIFAR and
            npz: ``seed``. CSV: ``label_column``, ``delimiter``, ``seed``, ``text_column``
            (a text task; by default when the CSV has a column ``text``).
            ``skip_bad`` is accepted for every format; only image folders have
            files to skip (other formats' errors still raise).

    Returns:
        The Task (not yet validated; :func:`warmstart.tasks.load_task` validates). Its
        ``provenance["skipped_files"]`` lists the files left out by ``skip_bad`` (empty
        when none).

    Raises:
        ConfigError: an option the format does not have (lists the valid ones).
        DataError: the data is missing or malformed (names the file and row).
    """
    path = Path(path)
    fmt, target = detect_format(path)
    valid, loader = FORMATS[fmt]
    given = {k: v for k, v in options.items() if v is not None}
    skip_bad = given.get("skip_bad", False)
    if not isinstance(skip_bad, bool):
        raise ConfigError(f"option skip_bad must be a bool, got {skip_bad!r}")
    if "skip_bad" not in valid:  # a format without separate files to skip: nothing is skipped
        given.pop("skip_bad", None)
    unknown = sorted(set(given) - set(valid))
    if unknown:
        raise ConfigError(
            f"unknown option(s) {', '.join(unknown)} for {fmt} {path}; valid options: "
            f"{', '.join(sorted(valid))}"
        )
    seed = given.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"option seed must be an int, got {seed!r}")
    task = loader(target, **given)
    task.provenance.setdefault("skipped_files", [])
    return task


__all__ = [
    "FORMATS",
    "IMAGE_EXTENSIONS",
    "ImageFileDataset",
    "decode_image",
    "detect_format",
    "image_files",
    "load_path",
    "probe_image",
]
