"""Candidate sources for auto, ranked on the target without training (LogME, LEEP).

Candidates are the checkpoints and source tasks the user names, plus source
checkpoints an earlier auto run recorded in the knowledge base (when their
files still exist). With target labels the ranking is by LogME (You et al.
2021), LEEP (Nguyen et al. 2020) shown beside it where the source has a
classifier; with no labels by the source model's label-free confidence on the
target pool (lower normalized entropy first).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from warmstart.backbones.adapt import adapt_to_task
from warmstart.errors import ConfigError, IncompatibleError, WarmstartError
from warmstart.source import Source
from warmstart.tasks._task import Task
from warmstart.transferability import score_source

SOURCES_STUDY = "_warmstart_sources"


@dataclass
class RankedSource:
    """A candidate source with its scores."""

    name: str
    source: Source
    logme: float | None
    leep: float | None
    gap: float | None
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        """Plain dict (for run.json and the report)."""
        return {"source": self.name, "logme": self.logme, "leep": self.leep, "domain_gap": self.gap,
                "note": self.note}


def kb_sources(storage: Any) -> list[tuple[str, Source]]:
    """Source checkpoints recorded by earlier auto runs whose folders still exist."""
    try:
        study = optuna.load_study(study_name=SOURCES_STUDY, storage=storage)
    except KeyError:
        return []
    out = []
    for name, info in sorted(study.user_attrs.items()):
        path = Path(str(info.get("path", "")))
        if (path / "meta.json").exists():
            out.append((name, Source(path=path, task_name=info.get("task"))))
    return out


def record_sources(storage: Any, ranked: list[RankedSource]) -> None:
    """Remember the checkpoints used, so the next auto run can consider them."""
    study = optuna.create_study(study_name=SOURCES_STUDY, storage=storage, load_if_exists=True)
    for r in ranked:
        try:
            ck = r.source.checkpoint(progress=False)
        except WarmstartError:
            continue
        study.set_user_attr(r.name, {"path": str(Path(ck.path).resolve()), "task": ck.meta.get("source_task"),
                                     "modality": ck.model.input_spec.modality})


def rank_sources(task: Task, candidates: list[tuple[str, Source]]) -> list[RankedSource]:
    """Score every candidate on ``task``; best first. Incompatible sources are dropped with a note.

    Raises:
        ConfigError: no candidate is usable.
    """
    from warmstart.auto.situation import domain_gap

    ranked: list[RankedSource] = []
    dropped: list[str] = []
    labelled = len(task.y_train) > 0 and len(set(task.y_train.tolist())) >= 2
    for name, src in candidates:
        try:
            ck = src.fresh_checkpoint(progress=False)
            head = ck.model.head
            scaled = task.in_scale(ck.model.input_spec.scaler, name)  # rows as the source model takes them
            model, _ = adapt_to_task(ck.model, scaled, ck.classes, "auto")
            model.head = head if head is not None else model.head  # LEEP needs the source's own head
            gap = domain_gap(model, scaled) if head is not None else None
            if labelled:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    s = score_source(model, ck.classes if head is not None else None, scaled.x_train,
                                     scaled.y_train, task.n_classes, name)
                ranked.append(RankedSource(name, src, s.logme, s.leep, gap))
            else:
                ranked.append(RankedSource(name, src, None, None, gap, "no labels: ranked by domain gap"))
        except IncompatibleError as exc:
            dropped.append(f"{name}: {exc}")
    if not ranked:
        why = "; ".join(dropped) if dropped else "none given and none in the knowledge base"
        raise ConfigError(f"no usable source for task {task.name!r} ({why}); give --source or --source-task")
    if labelled:
        ranked.sort(key=lambda r: -(r.logme if r.logme is not None else float("-inf")))
    else:
        ranked.sort(key=lambda r: r.gap if r.gap is not None else float("inf"))
    for d in dropped:
        ranked[-1].note += f" (dropped {d})"
    return ranked
