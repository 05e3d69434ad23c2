"""The meta-dataset's table as rows the prior is fitted on (shared by prior_quality and ship_prior).

``benchmarks/results/meta_dataset/meta_dataset.csv`` holds the rows of
:func:`warmstart.knowledge.trials.trial_rows` plus the meta-dataset's columns. Read back from CSV,
numbers become floats again, and the source's transferability columns get the names the prior
reads (:func:`warmstart.knowledge._prior_table.transfer_features`): ``src_logme`` → ``logme``,
``src_leep`` → ``leep``, ``src_gap`` → ``tf_gap`` — the names ``auto`` gives the same scores of
its ranked sources.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

TABLE = Path(__file__).parent / "results" / "meta_dataset" / "meta_dataset.csv"
RENAMED = {"src_logme": "logme", "src_leep": "leep", "src_gap": "tf_gap"}
#: columns kept as text (JSON or names)
TEXT = {"study", "kind", "task", "state", "strategy", "source", "source_task", "weights", "architecture", "params",
        "metric", "validation", "curve", "family", "member", "source_name"}


def _value(col: str, text: str) -> Any:
    if col in TEXT or text == "":
        return text if text != "" else None
    try:
        return float(text)
    except ValueError:
        return text


def read_rows(path: Path = TABLE) -> list[dict[str, Any]]:
    """Every COMPLETE row of the table at ``path``, typed and with the prior's transferability names.

    Raises:
        FileNotFoundError: no table at ``path`` (build it with ``python -m benchmarks.meta_dataset``).
    """
    with open(path, newline="", encoding="utf-8") as fh:
        rows = []
        for raw in csv.DictReader(fh):
            row = {RENAMED.get(k, k): _value(k, v) for k, v in raw.items()}
            if row.get("state") == "COMPLETE":
                rows.append(row)
    return rows


def cell_key(row: dict[str, Any]) -> tuple[str, int]:
    """(task key, seed): the runs one situation holds, each recipe once."""
    return str(row["task"]), int(row.get("seed") or 0)
