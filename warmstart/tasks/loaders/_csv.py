"""Load a tabular task from a CSV file with a label column.

The first line is a header (when every cell of it is a number, the file has no
header and its columns are named ``0, 1, ...``). The label column is the
option ``label_column`` (a name or a 0-based index); by default the column
``label`` if there is one, else the last column. Every other column must be
numeric; the features are standardized with train-split statistics.

A CSV with a text column (option ``text_column``; by default a column named
``text``) is a text task instead: see :mod:`~warmstart.tasks.loaders._text`
(the default label column is then ``label``, else the last other column).
The file must be UTF-8 (a non-UTF-8 byte is reported with its offset and line).

Labels are class names: the classes are the distinct label values, sorted
(numerically when all labels are integers, so ``1, 2, 10`` stay in that
order), and each label becomes its index in that list.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

import numpy as np

from warmstart.errors import DataError
from warmstart.tasks._task import Task
from warmstart.tasks.loaders._build import ArrayData, build_task, first_nonfinite_row
from warmstart.tasks.loaders._text import DEFAULT_TEXT_COLUMN, build_text_task, read_utf8, text_column_index

OPTIONS: dict[str, Any] = {"label_column": None, "delimiter": None, "seed": 0, "text_column": None}


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _rows(path: Path, delimiter: str | None) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and (line number, cells) of the data rows; blank lines are skipped."""
    if delimiter is None:
        delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    content = read_utf8(path)
    try:
        reader = csv.reader(io.StringIO(content, newline=""), delimiter=delimiter)
        rows = [(reader.line_num, [c.strip() for c in row]) for row in reader if row]
    except csv.Error as exc:
        raise DataError(f"{path}: cannot read CSV ({exc})") from exc
    if not rows:
        raise DataError(f"{path}: file is empty")
    first = rows[0][1]
    if all(_is_number(c) for c in first):
        header = [str(i) for i in range(len(first))]
    else:
        header, rows = first, rows[1:]
    if not rows:
        raise DataError(f"{path}: no data rows after the header")
    for line, cells in rows:
        if len(cells) != len(header):
            raise DataError(
                f"{path}, line {line}: {len(cells)} cells but the header has {len(header)} columns"
            )
    return header, rows


def _label_index(path: Path, header: list[str], label_column: str | int | None) -> int:
    if label_column is None:
        return header.index("label") if "label" in header else len(header) - 1
    if isinstance(label_column, int) and not isinstance(label_column, bool):
        if not -len(header) <= label_column < len(header):
            raise DataError(
                f"{path}: label column index {label_column} out of range for {len(header)} "
                f"columns: {', '.join(header)}"
            )
        return label_column % len(header)
    if label_column in header:
        return header.index(str(label_column))
    raise DataError(f"{path}: no label column {label_column!r}; columns are: {', '.join(header)}")


def _class_names(labels: list[str]) -> list[str]:
    values = sorted(set(labels))
    try:
        return sorted(values, key=int)
    except ValueError:
        return values


def load_csv(
    path: Path, label_column: str | int | None = None, delimiter: str | None = None, seed: int = 0,
    text_column: str | int | None = None,
) -> Task:
    """Load a CSV file as a tabular or text task (see the module docstring).

    Args:
        path: The ``.csv`` (or ``.tsv``) file.
        label_column: Name or 0-based index of the label column; by default
            ``"label"`` if there is such a column, else the last column.
        delimiter: Cell separator (default ``,``; tab for ``.tsv``).
        seed: Seed of the stratified 70/10/20 split.
        text_column: Name or 0-based index of the text column: the file is then a text task
            and must have that column. None: a text task when there is a column ``text``.

    Raises:
        DataError: no label column or no given text column (lists the columns), a non-numeric
            or missing feature (names line and column), an empty text (names line and data
            row), NaN/inf (names the line), ragged rows, a non-UTF-8 byte (names its offset
            and line), fewer than 2 classes.
    """
    header, rows = _rows(path, delimiter)
    if len(header) < 2:
        raise DataError(f"{path}: needs a label column and at least one feature column")
    if text_column is not None or DEFAULT_TEXT_COLUMN in header:
        ti = text_column_index(path, header, DEFAULT_TEXT_COLUMN if text_column is None else text_column)
        if label_column is None and "label" not in header:
            li = max(j for j in range(len(header)) if j != ti)
        else:
            li = _label_index(path, header, label_column)
        found = [cells[li] for _, cells in rows if cells[li]]
        return build_text_task(path, header, rows, ti, li, _class_names(found), seed)
    li = _label_index(path, header, label_column)
    feat_cols = [j for j in range(len(header)) if j != li]
    x = np.empty((len(rows), len(feat_cols)), dtype=np.float64)
    labels: list[str] = []
    for r, (line, cells) in enumerate(rows):
        label = cells[li]
        if label == "":
            raise DataError(f"{path}, line {line}: label column {header[li]!r} is empty")
        labels.append(label)
        for k, j in enumerate(feat_cols):
            cell = cells[j]
            try:
                v = float(cell)
            except ValueError:
                what = "is empty (missing value)" if cell == "" else f"has non-numeric value {cell!r}"
                raise DataError(f"{path}, line {line}: column {header[j]!r} {what}") from None
            if not math.isfinite(v):
                raise DataError(
                    f"{path}, line {line} (data row {r}): column {header[j]!r} is {cell!r} "
                    f"(NaN or inf)"
                )
            x[r, k] = v
    x32 = x.astype(np.float32)
    bad = first_nonfinite_row(x32)
    if bad is not None:
        raise DataError(f"{path}, line {rows[bad][0]}: a value is too large for float32")
    classes = _class_names(labels)
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[v] for v in labels], dtype=np.int64)
    data = ArrayData(
        name=path.stem, x=x32, y=y, classes=classes, modality="tabular",
        provenance={
            "source": str(path), "format": "csv", "label_column": header[li],
            "features": [header[j] for j in feat_cols],
        },
    )
    return build_task(data, seed=seed)
