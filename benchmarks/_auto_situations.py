"""The situations of the auto benchmark, and what it reads from the meta-dataset for them.

Each situation is a target task cut to a number of labels per class, its source tasks (each
pretrained once into a checkpoint by :func:`benchmarks._meta_tasks.prepare_source`, the
meta-dataset's own source recipe; the checkpoint carries its task's data too) and the meta-dataset
family it belongs to: the prior ``auto`` gets in that situation is fitted on the rows of every
*other* family (leave-one-family-out, :func:`lofo_rows`), so no task of the family was seen.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from benchmarks._meta_tasks import TARGETS
from benchmarks._prior_rows import cell_key
from warmstart.knowledge.records import task_key

#: strategies not run as a "single strategy at its defaults", and why
SINGLE_LEFT_OUT = {
    "nas_candidate": "an architecture candidate of the search, with no architecture at its defaults",
    "mmd": "left out of the meta-dataset's portfolio (a feature-alignment cousin of dann), so here too",
    "coral": "left out of the meta-dataset's portfolio (a feature-alignment cousin of dann), so here too",
}


@dataclass(frozen=True)
class Situation:
    """One situation of the benchmark.

    Attributes:
        name: Its name in the tables.
        task: Built-in target task.
        shots: Labels per class of the few-shot cut (0: the unlabelled pool only).
        family: Its meta-dataset family (:mod:`benchmarks._meta_tasks`), left out of its prior.
        source_tasks: Source tasks, each given to ``auto`` as a pretrained checkpoint with its data.
        baseline_source: The source task whose checkpoint (and data) the single strategies use.
    """

    name: str
    task: str
    shots: int
    family: str
    source_tasks: tuple[str, ...]
    baseline_source: str

    @property
    def key(self) -> str:
        """Its task key in the meta-dataset (``digits@5shots``)."""
        return task_key(self.task, self.shots)


SITUATIONS: tuple[Situation, ...] = (
    Situation("digits-5shot", "digits", 5, "digits", ("mnist5k",), "mnist5k"),
    Situation("mnist5k-b-rotated-10shot", "mnist5k-b-rotated", 10, "mnist5k-b", ("mnist5k-a", "digits"), "mnist5k-a"),
    Situation("digits-unlabelled", "digits", 0, "digits", ("mnist5k",), "mnist5k"),
    Situation("digits-1shot", "digits", 1, "digits", ("mnist5k",), "mnist5k"),
    Situation("mnist5k-b-inverted-10shot", "mnist5k-b-inverted", 10, "mnist5k-b", ("mnist5k-a",), "mnist5k-a"),
    # tabular: breast_cancer-b (57 test examples) rather than wine-b (18: one example is 5.6 points)
    Situation("breast_cancer-b-5shot", "breast_cancer-b", 5, "breast_cancer", ("breast_cancer-a",),
              "breast_cancer-a"),
    # tabular, a test split that resolves the targets' 0.01 tolerance: spam7-b (461 test examples, one is 0.2
    # points; breast_cancer-b's 57 make one example 1.8). Its family is in no meta-dataset row: no prior saw it.
    Situation("spam7-b-5shot", "spam7-b", 5, "spam7", ("spam7-a",), "spam7-a"),
)
QUICK_SITUATIONS = ("digits-5shot",)


def select_situations(names: Iterable[str] | None, quick: bool = False) -> list[Situation]:
    """The situations named (all when None; with ``quick`` only :data:`QUICK_SITUATIONS`), in table order.

    Raises:
        ValueError: a name that is no situation (the message lists them).
    """
    pool = [s for s in SITUATIONS if s.name in QUICK_SITUATIONS] if quick else list(SITUATIONS)
    if not names:
        return pool
    wanted = list(names)
    unknown = [n for n in wanted if n not in {s.name for s in pool}]
    if unknown:
        raise ValueError(f"unknown situation {unknown[0]!r}; choose from {', '.join(s.name for s in pool)}")
    return [s for s in pool if s.name in wanted]


_FAMILY = {t.name: t.family for t in TARGETS}


def row_family(row: Mapping[str, Any]) -> str | None:
    """A meta-dataset row's family: its ``family`` column, else that of its task's name (None when unknown)."""
    fam = row.get("family")
    if isinstance(fam, str) and fam:
        return fam
    name = str(row.get("task") or "").split("@", 1)[0]
    return _FAMILY.get(name)


def lofo_rows(rows: Iterable[Mapping[str, Any]], family: str) -> list[dict[str, Any]]:
    """The rows of every family but ``family``; rows whose family is unknown are left out too."""
    out = []
    for r in rows:
        fam = row_family(r)
        if fam is not None and fam != family:
            out.append(dict(r))
    return out


def oracle_accuracy(rows: Iterable[Mapping[str, Any]], key: str, seed: int) -> float | None:
    """The best test accuracy among the meta-dataset's runs of (task key, seed); None when it has none."""
    accs = [float(r["test_accuracy"]) for r in rows
            if isinstance(r.get("test_accuracy"), (int, float)) and math.isfinite(float(r["test_accuracy"]))
            and cell_key(dict(r)) == (key, seed)]
    return max(accs) if accs else None


def single_strategies(task: Any, shots: int, allowed: Iterable[str] | None = None) -> list[str]:
    """The strategies run at their defaults in a situation: those ``auto`` could run there (its
    :func:`~warmstart.auto.prior_plan.applicable_strategies`, with source data), less :data:`SINGLE_LEFT_OUT`;
    ``allowed`` restricts them further."""
    from warmstart.auto.prior_plan import applicable_strategies

    names, _ = applicable_strategies(task, labels_per_class=shots, has_source_data=True)
    keep = [s for s in names if s not in SINGLE_LEFT_OUT]
    return keep if allowed is None else [s for s in keep if s in set(allowed)]
