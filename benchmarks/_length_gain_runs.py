"""The runs of the length-gain benchmark: its cells, its run log, the two fidelities of a strategy, one run.

A cell is a meta-dataset target at a shot level (``digits-rotated@5``). Each finished run is one line of
``runs.jsonl`` (:class:`GainLog`, the auto benchmark's :class:`~benchmarks._auto_revisions.RunLog` keyed by
(cell, seed, fidelity, strategy)); a run of an older strategy revision is stale
(:func:`benchmarks._revision.is_current`) and runs again.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks._auto_revisions import RunLog
from benchmarks._meta_portfolio import Member
from benchmarks._meta_tasks import TARGETS, Target
from benchmarks._revision import current_revision, input_revision, is_current

#: the committed runs of the full benchmark (read by ship_prior and the auto benchmark)
GAIN_RUNS = Path(__file__).resolve().parent / "results" / "length_gain" / "runs.jsonl"
#: --quick: the full fit's length keys at this many times the quick trial's (seconds, not minutes)
QUICK_FULL_FACTOR = 3


@dataclass(frozen=True)
class Cell:
    """One meta-dataset target at one shot level.

    Attributes:
        target: The target (its family, source checkpoint task and source data task).
        shots: Labels per class of the support set (0: the unlabelled pool only).
    """

    target: Target
    shots: int

    @property
    def name(self) -> str:
        """``<target>@<shots>``, as ``--cells`` spells it."""
        return f"{self.target.name}@{self.shots}"


def parse_cells(specs: list[str], targets: list[Target] | None = None) -> list[Cell]:
    """``NAME@SHOTS`` strings as cells (duplicates dropped, order kept); ``targets``: the names allowed (default
    :data:`benchmarks._meta_tasks.TARGETS`).

    Raises:
        ValueError: a spec whose name is not one of ``targets`` or whose shots are not a non-negative integer (the
            message names it).
    """
    by_name = {t.name: t for t in (TARGETS if targets is None else targets)}
    out: list[Cell] = []
    for spec in specs:
        name, _, shots = spec.rpartition("@")
        if name not in by_name or not shots.isdigit():
            why = "give NAME@SHOTS, e.g. digits-rotated@5" if name in by_name or not name else \
                "no such meta-dataset target"
            raise ValueError(f"--cells {spec!r}: {why}")
        cell = Cell(by_name[name], int(shots))
        if cell not in out:
            out.append(cell)
    return out


class GainLog(RunLog):
    """The finished runs of ``runs.jsonl``, keyed by (cell, seed, fidelity, strategy); stale revisions left out."""

    @staticmethod
    def is_current(row: dict[str, Any]) -> bool:
        """Whether the run is of its strategy's current revision."""
        return is_current(row)

    @staticmethod
    def key(row: dict[str, Any]) -> tuple[str, int, str, str]:
        """(cell name, seed, fidelity, strategy)."""
        return f"{row['task']}@{int(row['shots'])}", int(row["seed"]), str(row["fidelity"]), str(row["strategy"])


def read_gain_rows(path: Path = GAIN_RUNS) -> list[dict[str, Any]]:
    """The finished, current runs of a ``runs.jsonl`` (:class:`GainLog`): the rows a prior's length gains
    are fitted on (:meth:`warmstart.knowledge.prior.LengthGains.fit`), each with its task's ``modality``
    (rows written before it was kept get it from the built-in task's name). Empty when the file does not exist."""
    if not path.is_file():
        return []
    return with_modality([r for r in GainLog(path).runs.values() if r.get("error") is None])


def with_modality(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows, each with its task's ``modality`` (a row written before it was kept gets it from the built-in
    task's name)."""
    from warmstart.tasks._builtin import builtin_modality

    return [r if r.get("modality") else {**r, "modality": builtin_modality(str(r["task"]))} for r in rows]


def fidelities(member: Member, n_labelled: int, quick: bool = False) -> list[tuple[str, dict[str, Any]]]:
    """The runs of one ``#default`` member: ``("trial", its params)`` then ``("full", auto's final-fit params)``.

    The full length is :func:`warmstart.auto.final_fit.final_fit` without a time limit (the strategy's
    defaults). A strategy with no longer length (its trials already run at its defaults) has the trial run
    only. ``quick``: the full fit's length keys are :data:`QUICK_FULL_FACTOR` times the quick trial's
    (epochs kept), so the quick run takes seconds.
    """
    from warmstart.auto.final_fit import LENGTH_KEYS, final_fit

    trial = dict(member.params)
    fit = final_fit(member.strategy, trial, None, n_labelled, None, None)
    if fit.length == "trial":
        return [("trial", trial)]
    full = dict(fit.params)
    if quick:
        full.update({k: v if k == "epochs" else v * QUICK_FULL_FACTOR for k, v in trial.items() if k in LENGTH_KEYS})
    return [("trial", trial), ("full", full)]


def run_one(cell: Cell, seed: int, cut: Any, source: Any, strategy: str, fidelity: str,
            params: dict[str, Any]) -> dict[str, Any]:
    """One fit of ``strategy`` with ``params`` on every label of the cut's support set (``validation="none"``).

    Returns:
        The run's row; a :class:`~warmstart.errors.WarmstartError` is recorded as ``error`` (test accuracy None).
    """
    from warmstart.auto.final_fit import training_steps
    from warmstart.errors import WarmstartError
    from warmstart.knowledge.records import task_key
    from warmstart.recipe import Recipe, run_recipe

    t = cell.target
    n_labelled = len(cut.y_train)
    row: dict[str, Any] = {
        "task": t.name, "key": task_key(t.name, cell.shots), "family": t.family, "modality": cut.modality,
        "shots": cell.shots, "seed": seed,
        "source_task": t.source_task, "strategy": strategy, "fidelity": fidelity, "params": params,
        "steps": training_steps(strategy, params, n_labelled), "test_accuracy": None, "seconds": 0.0,
        "revision": current_revision(strategy), "input_revision": input_revision(t.name)}
    recipe = Recipe(strategy, params, source=str(source.path), source_spec=source.spec, source_task=t.source_task,
                    shots=cell.shots, seed=seed)
    t0 = time.perf_counter()
    try:
        res = run_recipe(cut, recipe, validation="none", source=source, keep_model=False)
    except WarmstartError as exc:
        return {**row, "seconds": time.perf_counter() - t0, "error": str(exc)}
    return {**row, "test_accuracy": float(res.test["accuracy"]), "seconds": time.perf_counter() - t0}


#: (cell name, seed, strategy)
PairKey = tuple[str, int, str]


def cell_name(row: dict[str, Any]) -> str:
    """``<task>@<shots>`` of a run row."""
    return f"{row['task']}@{int(row['shots'])}"


def accuracy(row: dict[str, Any] | None) -> float | None:
    """A run's test accuracy (None: no run, or it failed)."""
    return None if row is None or row.get("test_accuracy") is None else float(row["test_accuracy"])


def pairs(runs: list[dict[str, Any]]) -> dict[PairKey, dict[str, dict[str, Any]]]:
    """The runs by (cell, seed, strategy), then by fidelity."""
    out: dict[PairKey, dict[str, dict[str, Any]]] = defaultdict(dict)
    for r in runs:
        out[(cell_name(r), int(r["seed"]), str(r["strategy"]))][str(r["fidelity"])] = r
    return out


def gain(runs: dict[str, dict[str, Any]]) -> float | None:
    """Full minus trial test accuracy of one (cell, seed, strategy), None unless both finished."""
    trial, full = accuracy(runs.get("trial")), accuracy(runs.get("full"))
    return None if trial is None or full is None else full - trial
