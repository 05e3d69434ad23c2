"""Text tasks from a CSV with a text column and a label column, and UTF-8 reading.

A CSV becomes a text task when it has the text column (option ``text_column``,
default ``text``). The inputs are the texts as a list of strings (modality
``"text"``, ``input_shape == ()``); tokenization is left to the model's text
backbone. Labels are class names as in the tabular CSV loader; the data is split
with the same seeded, stratified 70/10/20 rules as every other loader
(:func:`~warmstart.tasks.loaders._build.split_three`). Columns other than the text
and label columns are ignored (their names are kept in the provenance).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from warmstart.errors import DataError
from warmstart.tasks._task import Task
from warmstart.tasks.loaders._build import check_classes, split_three

DEFAULT_TEXT_COLUMN = "text"


def read_utf8(path: Path) -> str:
    """The whole file decoded as UTF-8 (a leading byte-order mark is dropped).

    Raises:
        DataError: the file cannot be read, or is not UTF-8 (names the byte offset and the line).
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DataError(f"{path}: not UTF-8 text: byte 0x{raw[exc.start]:02x} at byte offset {exc.start} "
                        f"(line {line}); save the file as UTF-8") from None


def text_lines(path: Path) -> list[str]:
    """The non-blank lines of a ``.txt`` file, one text each (surrounding whitespace stripped).

    Raises:
        DataError: not UTF-8 (names the offset and line), or no text at all.
    """
    texts = [line.strip() for line in read_utf8(path).splitlines()]
    texts = [t for t in texts if t]
    if not texts:
        raise DataError(f"{path}: no text lines")
    return texts


def text_column_index(path: Path, header: list[str], text_column: str | int) -> int:
    """Index of the text column (a name, or a 0-based index).

    Raises:
        DataError: no such column (lists the columns the file has).
    """
    if isinstance(text_column, int) and not isinstance(text_column, bool):
        if -len(header) <= text_column < len(header):
            return text_column % len(header)
        raise DataError(f"{path}: text column index {text_column} out of range for {len(header)} columns: "
                        f"{', '.join(header)}")
    if text_column in header:
        return header.index(str(text_column))
    raise DataError(f"{path}: no text column {text_column!r}; columns are: {', '.join(header)} "
                    "(choose one with --text-column)")


def build_text_task(path: Path, header: list[str], rows: list[tuple[int, list[str]]], ti: int, li: int,
                    classes: list[str], seed: int = 0) -> Task:
    """A text Task from parsed CSV rows (see the module docstring).

    Args:
        path: The CSV (for messages and provenance).
        header: Column names.
        rows: (line number, cells) of each data row.
        ti, li: Indices of the text and label columns (different).
        classes: Sorted class names; every label is one of them.
        seed: Seed of the stratified 70/10/20 split.

    Raises:
        DataError: the text and label columns are the same, an empty text or label (names the
            line and data row), fewer than 2 classes, or too few rows to split.
    """
    if ti == li:
        raise DataError(f"{path}: column {header[ti]!r} cannot be both the text and the label column")
    texts: list[str] = []
    labels: list[str] = []
    for r, (line, cells) in enumerate(rows, start=1):
        if cells[ti] == "":
            raise DataError(f"{path}, line {line} (data row {r}): text column {header[ti]!r} is empty")
        if cells[li] == "":
            raise DataError(f"{path}, line {line} (data row {r}): label column {header[li]!r} is empty")
        texts.append(cells[ti])
        labels.append(cells[li])
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[v] for v in labels], dtype=np.int64)
    check_classes(y, classes, path.stem)
    tr, va, te, how = split_three(y, seed, path.stem)
    xs = [[texts[int(i)] for i in part] for part in (tr, va, te)]
    ys = [torch.from_numpy(np.ascontiguousarray(y[part])) for part in (tr, va, te)]
    provenance = {"source": str(path), "format": "csv", "text_column": header[ti], "label_column": header[li],
                  "ignored_columns": [h for j, h in enumerate(header) if j not in (ti, li)],
                  "seed": seed, "split": how}
    return Task(name=path.stem, x_train=xs[0], y_train=ys[0], x_val=xs[1], y_val=ys[1], x_test=xs[2],
                y_test=ys[2], classes=list(classes), modality="text", input_shape=(), provenance=provenance)
