"""Task records: one Optuna study per (task, search kind), with the task's meta-features.

A study is named ``"<task key>|<kind>"``, e.g. ``"wine|tune:scratch"`` or
``"digits@5shots|tune:finetune"``. Its study user attribute ``"warmstart"``
holds the record: knowledge-base version, task key, kind, strategy, shots,
meta-features (:func:`warmstart.knowledge.metafeatures.meta_features`), a task
description, and the search space (Optuna distributions as JSON).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, distribution_to_json, json_to_distribution
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from warmstart.errors import StorageError, UnknownNameError
from warmstart.knowledge.storage import KB_VERSION, META_STUDY

ATTR = "warmstart"
SEP = "|"


def task_key(task_name: str, shots: int | None = None) -> str:
    """The knowledge-base key of a task (few-shot variants are separate tasks)."""
    return task_name if shots is None else f"{task_name}@{shots}shots"


def study_name(key: str, kind: str) -> str:
    """The study name of (task key, search kind)."""
    return f"{key}{SEP}{kind}"


@dataclass
class TaskRecord:
    """One study of the knowledge base, as the warm starts and ``warmstart kb`` see it."""

    study_name: str
    task: str
    kind: str
    direction: str
    meta_features: dict[str, float]
    info: dict[str, Any] = field(default_factory=dict)
    space: dict[str, BaseDistribution] = field(default_factory=dict)
    n_complete: int = 0
    n_pruned: int = 0
    n_failed: int = 0
    best_value: float | None = None
    best_params: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON-serializable summary."""
        return {"study": self.study_name, "task": self.task, "kind": self.kind, "direction": self.direction,
                "trials": {"complete": self.n_complete, "pruned": self.n_pruned, "failed": self.n_failed},
                "best_value": self.best_value, "best_params": self.best_params,
                "meta_features": self.meta_features, "info": self.info,
                "space": {k: distribution_to_json(v) for k, v in self.space.items()}}


def make_record_attr(key: str, kind: str, meta: dict[str, float], info: dict[str, Any],
                     space: dict[str, BaseDistribution], strategy: str | None = None,
                     shots: int | None = None) -> dict[str, Any]:
    """The JSON stored as the study's ``warmstart`` user attribute."""
    return {"kb_version": KB_VERSION, "task": key, "kind": kind, "strategy": strategy, "shots": shots,
            "meta_features": meta, "info": info,
            "space": {k: distribution_to_json(v) for k, v in space.items()}}


def _parse(summary: Any) -> TaskRecord | None:
    attr = summary.user_attrs.get(ATTR)
    if not isinstance(attr, dict):
        return None
    version = attr.get("kb_version")
    if version != KB_VERSION:
        raise StorageError(f"study {summary.study_name!r} was written by knowledge-base version {version!r}; "
                           f"this warmstart reads version {KB_VERSION}")
    space = {}
    for k, v in (attr.get("space") or {}).items():
        try:
            space[k] = json_to_distribution(v)
        except Exception:
            continue
    return TaskRecord(study_name=summary.study_name, task=str(attr.get("task")), kind=str(attr.get("kind")),
                      direction=summary.directions[0].name.lower(),  # multi-objective: the primary objective's
                      meta_features=dict(attr.get("meta_features") or {}),
                      info=dict(attr.get("info") or {}), space=space)


def _fill_counts(storage: BaseStorage, rec: TaskRecord) -> None:
    study = optuna.load_study(study_name=rec.study_name, storage=storage)
    trials = study.get_trials(deepcopy=False)
    rec.n_complete = sum(t.state == TrialState.COMPLETE for t in trials)
    rec.n_pruned = sum(t.state == TrialState.PRUNED for t in trials)
    rec.n_failed = sum(t.state == TrialState.FAIL for t in trials)
    done = [t for t in trials if t.state == TrialState.COMPLETE and t.values]  # values[0]: the primary objective
    if done:
        pick = max if rec.direction == "maximize" else min
        best = pick(done, key=lambda t: t.values[0])
        rec.best_value, rec.best_params = best.values[0], dict(best.params)


def list_records(storage: BaseStorage, kind: str | None = None, *, counts: bool = True) -> list[TaskRecord]:
    """All task records of the knowledge base (optionally of one search kind), sorted by name.

    Raises:
        StorageError: a study was written by an incompatible knowledge-base version.
    """
    out = []
    for summary in optuna.get_all_study_summaries(storage, include_best_trial=False):
        if summary.study_name == META_STUDY:
            continue
        rec = _parse(summary)
        if rec is None or (kind is not None and rec.kind != kind):
            continue
        if counts:
            _fill_counts(storage, rec)
        out.append(rec)
    return sorted(out, key=lambda r: r.study_name)


def find_records(storage: BaseStorage, task: str) -> list[TaskRecord]:
    """The records of one task key (every search kind).

    Raises:
        UnknownNameError: the knowledge base has no study of that task (lists the known tasks).
    """
    recs = list_records(storage)
    mine = [r for r in recs if r.task == task]
    if not mine and not recs:
        raise StorageError(f"the knowledge base holds no task yet, so none named {task!r} "
                           "(run warmstart tune, search or auto first)")
    if not mine:
        raise UnknownNameError("knowledge-base task", task, {r.task for r in recs})
    return mine


def completed_trials(storage: BaseStorage, rec: TaskRecord) -> list[FrozenTrial]:
    """The completed trials of a record's study (the warm starts' source data)."""
    study = optuna.load_study(study_name=rec.study_name, storage=storage)
    return [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.value is not None]
