"""``warmstart kb export``: the trial table (the meta-dataset) as a CSV or Parquet file.

The table is :func:`warmstart.knowledge.trials.trial_rows`, one row per finished trial, columns
in :func:`warmstart.knowledge.trials.columns` order. CSV is written with the standard library
(an empty cell for a missing value); Parquet through pandas and pyarrow (``pip install
"warmstart[tables]"``). Either file is written atomically.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from optuna.storages import BaseStorage

from warmstart._atomic import atomic_path, write_text_atomic
from warmstart.errors import ConfigError
from warmstart.knowledge.trials import columns, trial_rows

FORMATS = ("csv", "parquet")


def _check_output(path: Path) -> None:
    if path.is_dir():
        raise ConfigError(f"output {path} is a folder; give a file name")
    if not path.parent.is_dir():
        raise ConfigError(f"output folder {path.parent} does not exist")


def _csv_text(rows: list[dict[str, Any]], cols: list[str]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({c: "" if r.get(c) is None else r[c] for c in cols})
    return buf.getvalue()


def _uniform(values: list[Any]) -> list[Any]:
    """One Parquet type per column: mixed columns (e.g. ``3`` and ``"auto"``) become text."""
    present = [v for v in values if v is not None]
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present)
    if numeric or all(isinstance(v, bool) for v in present) or all(isinstance(v, str) for v in present):
        return values
    return [None if v is None else v if isinstance(v, str) else json.dumps(v) for v in values]


def _write_parquet(rows: list[dict[str, Any]], cols: list[str], path: Path) -> None:
    try:
        import pandas as pd
        import pyarrow  # noqa: F401  (the engine pandas needs)
    except ImportError:
        raise ConfigError('--format parquet needs pandas and pyarrow: pip install "warmstart[tables]"') from None
    frame = pd.DataFrame({c: _uniform([r.get(c) for r in rows]) for c in cols}, columns=cols)
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, engine="pyarrow", index=False)


def export_trials(storage: BaseStorage, path: str | Path, format: str = "csv",
                  kinds: Iterable[str] | str | None = None) -> int:
    """Write the trial table of a knowledge base to ``path``; return the number of rows.

    Args:
        storage: An opened knowledge base (:func:`warmstart.knowledge.open_storage`).
        path: The output file; its folder must exist. Replaced atomically.
        format: ``csv`` or ``parquet``.
        kinds: Only studies of these kinds (``tune``, ``search``, ``auto`` or a full kind).

    Raises:
        ConfigError: unknown format or kind, missing output folder, or Parquet without pyarrow.
        StorageError: a study was written by an incompatible knowledge-base version.
    """
    if format not in FORMATS:
        raise ConfigError(f"unknown export format {format!r}; valid formats: {', '.join(FORMATS)}")
    out = Path(path).expanduser()
    _check_output(out)
    rows = trial_rows(storage, kinds)
    cols = columns(rows)
    if format == "csv":
        write_text_atomic(out, _csv_text(rows, cols))
    else:
        _write_parquet(rows, cols, out)
    return len(rows)
