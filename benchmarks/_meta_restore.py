"""Rebuild the meta-dataset's storage from its committed table, so a fresh machine resumes the build.

The storage (``WORK/meta.db``) lives in a git-ignored folder: on a new machine it is empty, while
``meta_dataset.csv`` (committed) holds every finished run. Without a restore, a build would redo
every run and ``--report-only`` would write an empty table over the committed one. :func:`restore`
writes each row back as the trial it was read from (:mod:`benchmarks._meta_store`'s attributes:
recipe, result fields, ``unit``, ``member``, ``tier``, ``family``, ``source_name``,
``transferability``, ``cpu_seconds``, ``test_full``), one study per (task, shots) with its record's
meta-features from the ``mf_*`` columns, so :func:`benchmarks._meta_report.table` of the restored
storage gives the same rows (trial numbers aside: failed runs are not in the table, so they are not
restored and run again).

A row's resume key is its ``unit`` column. Tables written before that column existed give the key
the recipe had at revision 1 (:data:`benchmarks._meta_portfolio.REVISION` unknown): a strategy
revised since is run again, never counted current by mistake.
"""

from __future__ import annotations

import csv
import fcntl
import json
import math
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.trial import TrialState, create_trial

from benchmarks._meta_portfolio import unit_key
from benchmarks._meta_store import KIND, open_study
from warmstart.knowledge.records import list_records
from warmstart.recipe import Recipe

#: table columns that are the same-named trial attributes, and their type
_ATTRS: dict[str, Callable[[str], Any]] = {"metric": str, "validation": str, "seconds": float,
                                           "cpu_seconds": float, "member": str, "tier": int, "family": str,
                                           "source_name": str}


def _num(text: str | None) -> float | None:
    if text is None or text == "":
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def _json(text: str | None) -> Any:
    return None if text is None or text == "" else json.loads(text)


def recipe_of(row: dict[str, str]) -> Recipe:
    """The recipe a table row ran (its ``source`` is the table's ``sources/<name>``, not a folder)."""
    seed = _num(row.get("seed"))
    return Recipe(strategy=row["strategy"], params=_json(row.get("params")) or {},
                  source=row.get("source") or None, weights=row.get("weights") or None,
                  source_task=row.get("source_task") or None, architecture=_json(row.get("architecture")),
                  shots=int(row["shots"]), seed=0 if seed is None else int(seed))


def unit_of(row: dict[str, str], recipe: Recipe) -> str:
    """The row's resume key: its ``unit`` column, else the recipe's key at revision 1 (see the module doc)."""
    return row.get("unit") or unit_key(recipe, current=False)


def _trial(row: dict[str, str]) -> optuna.trial.FrozenTrial:
    recipe = recipe_of(row)
    attrs: dict[str, Any] = {"recipe": recipe.to_json(), "unit": unit_of(row, recipe),
                             "curve": _json(row.get("curve")) or []}
    for name, kind in _ATTRS.items():
        if row.get(name):
            attrs[name] = kind(row[name])
    if row.get("n_epochs"):
        attrs["n_epochs"] = int(float(row["n_epochs"]))
    attrs["transferability"] = {"source": row.get("source_name") or None, "logme": _num(row.get("src_logme")),
                                "leep": _num(row.get("src_leep")), "gap": _num(row.get("src_gap"))}
    first = _num(row.get("test_first_fold_accuracy"))
    attrs["test"] = {} if first is None else {"accuracy": first}
    if row.get("test_from") == "full fit":
        attrs["test_full"] = {k[5:]: v for k, t in row.items() if k.startswith("test_")
                              and k not in ("test_first_fold_accuracy", "test_from") and (v := _num(t)) is not None}
    complete = row["state"] == TrialState.COMPLETE.name
    score = _num(row.get("score"))
    if complete and score is None:
        raise ValueError(f"{row['study']} trial {row['trial']}: a COMPLETE row without a score")
    return create_trial(state=TrialState.COMPLETE if complete else TrialState.PRUNED,
                        value=score if complete else None, user_attrs=attrs)


def read_rows(table: Path) -> dict[tuple[str, int], list[dict[str, str]]]:
    """The table's portfolio rows by (task key, shots), in file order."""
    by_study: dict[tuple[str, int], list[dict[str, str]]] = defaultdict(list)
    with table.open(newline="") as f:
        for row in csv.DictReader(f):
            if row.get("kind") == KIND:
                by_study[(row["task"], int(row["shots"]))].append(row)
    return by_study


@contextmanager
def _locked(work: Path) -> Iterator[None]:
    """Hold ``WORK/restore.lock``: two shards started together restore once."""
    work.mkdir(parents=True, exist_ok=True)
    with (work / "restore.lock").open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def restore(storage: BaseStorage, table: Path, work: Path,
            describe: Callable[[str, int], dict[str, Any]] | None = None) -> int:
    """Write the table's rows into ``storage`` when it holds no portfolio study yet; return rows restored.

    Args:
        storage: The build's storage (``WORK/meta.db``).
        table: The committed ``meta_dataset.csv``; nothing happens when it does not exist.
        work: The build's work folder (its lock file).
        describe: ``(task key, shots) -> info`` for a study's record (the builder's task description,
            family and source); None: the row's family, source and source task only.

    Returns:
        The number of runs written (0 when the storage already had portfolio studies).
    """
    if not table.exists():
        return 0
    with _locked(work):
        if list_records(storage, KIND, counts=False):
            return 0
        n = 0
        for (task, shots), rows in read_rows(table).items():
            first = rows[0]
            meta = {k[3:]: float(v) for k, v in first.items() if k.startswith("mf_") and v != ""}
            info = {"family": first.get("family"), "source": first.get("source_name"),
                    "source_task": first.get("source_task")}
            if describe is not None:
                info = {**describe(task, shots), **info}
            study = open_study(storage, task.rsplit("@", 1)[0], shots, meta, info)
            for row in sorted(rows, key=lambda r: int(r["trial"])):
                study.add_trial(_trial(row))
                n += 1
        return n
