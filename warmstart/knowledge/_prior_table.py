"""The prior's training table: trial rows reduced to (task, recipe, source) → score, seconds, curves.

:func:`build_table` reads rows in the format of :func:`warmstart.knowledge.trials.trial_rows`
(or the meta-dataset, which has the same columns) and keeps, per task, its shots and
meta-features once; per (task, recipe, source) the mean target score over the rows that ran it
(seeds), the median seconds and the source's transferability scores; and the curves of the
scored trials for the gray-box model.

A *recipe* here is what transfers between tasks: strategy, hyperparameters and architecture
(:class:`RecipeSpec`). The source checkpoint and seed are per task and are left out of it; a
source enters the prior only through its transferability columns (``tf_<name>``, or ``logme``
and ``leep``).

Which score is the target is the caller's choice and is recorded in the table: ``score`` (the
validation score the search saw — the only one a user's own knowledge base may use) or a test
column such as ``test_accuracy`` (allowed only for the shipped prior, whose tasks are never a
user's). With ``score``, only rows whose metric is a labelled one (:data:`LABELLED_METRICS`) are
kept: label-free scores are on another scale.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from warmstart.errors import ConfigError

#: validation metrics on the accuracy scale (those :data:`warmstart.recipe.METRICS` names)
LABELLED_METRICS = frozenset({"val_accuracy", "val_macro_f1", "val_balanced_accuracy"})
#: columns read as a source's transferability score besides those starting with ``tf_``
TRANSFER_ALIASES = ("logme", "leep")
#: most curves kept for the gray-box model (evenly spaced over the table when there are more)
MAX_CURVES = 1000


def _num(value: Any) -> float | None:
    """A finite float, or None (bools, text, NaN and missing values are None)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    v = float(value)
    return v if math.isfinite(v) else None


def _json_cell(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


@dataclass(frozen=True)
class RecipeSpec:
    """The transferable part of a recipe: strategy, hyperparameters, architecture."""

    strategy: str
    params: Mapping[str, Any] = field(default_factory=dict)
    architecture: Mapping[str, Any] | None = None

    def key(self) -> str:
        """Canonical JSON text: equal specs have equal keys."""
        return json.dumps(self.to_json(), sort_keys=True)

    def to_json(self) -> dict[str, Any]:
        """The spec as a JSON object."""
        return {"strategy": self.strategy, "params": dict(self.params),
                "architecture": None if self.architecture is None else dict(self.architecture)}

    def describe(self) -> str:
        """One line: ``strategy (k=v, ...)``."""
        ps = ", ".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        arch = f" arch {json.dumps(dict(self.architecture), sort_keys=True)}" if self.architecture else ""
        return f"{self.strategy}" + (f" ({ps})" if ps else "") + arch

    @classmethod
    def of(cls, obj: Any) -> RecipeSpec:
        """The spec of a :class:`~warmstart.recipe.Recipe`, a spec, or a mapping with ``strategy``.

        A mapping may be a trial row (``params`` and ``architecture`` as JSON text).

        Raises:
            ConfigError: no strategy.
        """
        if isinstance(obj, RecipeSpec):
            return obj
        if isinstance(obj, Mapping):
            strategy, params, arch = obj.get("strategy"), obj.get("params"), obj.get("architecture")
        else:
            strategy, params, arch = (getattr(obj, "strategy", None), getattr(obj, "params", None),
                                      getattr(obj, "architecture", None))
        if not isinstance(strategy, str) or not strategy:
            raise ConfigError(f"a recipe for the prior needs a strategy name, got {strategy!r}")
        params, arch = _json_cell(params), _json_cell(arch)
        return cls(strategy, dict(params) if isinstance(params, Mapping) else {},
                   dict(arch) if isinstance(arch, Mapping) and arch else None)


@dataclass
class TaskInfo:
    """What the prior knows of a task before training on it."""

    shots: int | None
    meta: dict[str, float]


@dataclass
class Record:
    """One (task, recipe, source): the mean target over its rows, their median seconds, transferability."""

    task: str
    recipe: int
    source: str | None
    y: float
    seconds: float | None
    n: int
    transfer: dict[str, float]


@dataclass
class Curve:
    """One scored trial's per-epoch validation curve and its target score."""

    task: str
    recipe: int
    transfer: dict[str, float]
    curve: list[float]
    final: float


@dataclass
class PriorTable:
    """The prior's training data (see the module docstring); serializable as JSON."""

    target: str
    tasks: dict[str, TaskInfo] = field(default_factory=dict)
    recipes: list[RecipeSpec] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)
    curves: list[Curve] = field(default_factory=list)

    def comparable_tasks(self) -> list[str]:
        """Tasks with at least two recipes (one recipe says nothing about which recipe wins)."""
        seen: dict[str, set[int]] = defaultdict(set)
        for r in self.records:
            seen[r.task].add(r.recipe)
        return sorted(t for t, s in seen.items() if len(s) >= 2)

    def compares_sources(self) -> bool:
        """Whether some task ran one recipe from two or more sources: only then can a model fitted on the table
        tell a better source for a task from a worse one (with one source per task, the transferability
        columns vary only from task to task)."""
        seen: dict[tuple[str, int], set[str]] = defaultdict(set)
        for r in self.records:
            if r.source is not None:
                seen[(r.task, r.recipe)].add(r.source)
        return any(len(s) >= 2 for s in seen.values())

    def scores(self) -> dict[str, dict[str, float]]:
        """task → recipe key → mean target over its sources (the portfolio's table)."""
        acc: dict[tuple[str, int], list[float]] = defaultdict(list)
        for r in self.records:
            acc[(r.task, r.recipe)].append(r.y)
        out: dict[str, dict[str, float]] = defaultdict(dict)
        for (task, i), ys in acc.items():
            out[task][self.recipes[i].key()] = statistics.fmean(ys)
        return dict(out)

    def seconds(self) -> dict[str, float]:
        """recipe key → median seconds over its records (recipes never timed are left out)."""
        acc: dict[int, list[float]] = defaultdict(list)
        for r in self.records:
            if r.seconds is not None and r.seconds > 0:
                acc[r.recipe].append(r.seconds)
        return {self.recipes[i].key(): statistics.median(v) for i, v in acc.items()}

    def merged(self, base: PriorTable, prefix: str = "base:") -> PriorTable:
        """This table plus ``base``'s rows (its tasks renamed ``prefix + name`` so none collide)."""
        out = PriorTable(self.target, dict(self.tasks), list(self.recipes), list(self.records), list(self.curves))
        index = {s.key(): i for i, s in enumerate(out.recipes)}

        def remap(i: int) -> int:
            spec = base.recipes[i]
            if spec.key() not in index:
                index[spec.key()] = len(out.recipes)
                out.recipes.append(spec)
            return index[spec.key()]

        for name, info in base.tasks.items():
            out.tasks[prefix + name] = info
        for r in base.records:
            out.records.append(Record(prefix + r.task, remap(r.recipe), r.source, r.y, r.seconds, r.n, r.transfer))
        for c in base.curves:
            out.curves.append(Curve(prefix + c.task, remap(c.recipe), c.transfer, c.curve, c.final))
        return out

    def to_json(self) -> dict[str, Any]:
        """Compact JSON: tasks once, recipes once, records and curves as rows of lists."""
        return {
            "target": self.target,
            "tasks": {k: {"shots": v.shots, "meta": v.meta} for k, v in self.tasks.items()},
            "recipes": [s.to_json() for s in self.recipes],
            "records": [[r.task, r.recipe, r.source, r.y, r.seconds, r.n, r.transfer] for r in self.records],
            "curves": [[c.task, c.recipe, c.transfer, c.curve, c.final] for c in self.curves],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PriorTable:
        """Rebuild from :meth:`to_json` output (KeyError/TypeError/ValueError on a malformed one)."""
        tasks = {str(k): TaskInfo(v["shots"], {str(a): float(b) for a, b in v["meta"].items()})
                 for k, v in data["tasks"].items()}
        recipes = [RecipeSpec.of(s) for s in data["recipes"]]
        records = [Record(str(t), int(i), s, float(y), None if sec is None else float(sec), int(n),
                          {str(a): float(b) for a, b in tf.items()})
                   for t, i, s, y, sec, n, tf in data["records"]]
        curves = [Curve(str(t), int(i), {str(a): float(b) for a, b in tf.items()}, [float(v) for v in cv], float(f))
                  for t, i, tf, cv, f in data["curves"]]
        for task, i in [(r.task, r.recipe) for r in records] + [(c.task, c.recipe) for c in curves]:
            if task not in tasks or not 0 <= i < len(recipes):
                raise ValueError(f"a row refers to an unknown task or recipe ({task!r}, {i})")
        return cls(str(data["target"]), tasks, recipes, records, curves)


def transfer_features(row: Mapping[str, Any]) -> dict[str, float]:
    """A source's transferability scores in a row: ``tf_<name>`` columns and ``logme``/``leep``, by name."""
    out: dict[str, float] = {}
    for col, value in row.items():
        name = col[3:] if col.startswith("tf_") else col if col in TRANSFER_ALIASES else None
        v = _num(value)
        if name and v is not None:
            out[name] = v
    return out


def check_target(target: str) -> None:
    """``score`` or a ``test_<metric>`` column.

    Raises:
        ConfigError: any other column.
    """
    if target != "score" and not target.startswith("test_"):
        raise ConfigError(f"the prior's target must be 'score' (validation) or a test_<metric> column, "
                          f"got {target!r}")


def build_table(rows: Iterable[Mapping[str, Any]], target: str = "score", *,
                max_curves: int = MAX_CURVES) -> PriorTable:
    """Reduce trial rows to the prior's training table (see the module docstring).

    Rows without a task, a strategy or a finite target are skipped; with ``target="score"`` so
    are rows scored by a label-free metric.

    Args:
        rows: Rows as :func:`warmstart.knowledge.trials.trial_rows` returns them.
        target: ``score`` (validation) or a ``test_<metric>`` column (shipped prior only).
        max_curves: Most curves kept (evenly spaced over the scored rows with a curve of 2+ epochs).

    Raises:
        ConfigError: a target that is neither ``score`` nor a test column.
    """
    check_target(target)
    table = PriorTable(target)
    index: dict[str, int] = {}
    acc: dict[tuple[str, int, str | None], dict[str, Any]] = {}
    curves: list[Curve] = []
    for row in rows:
        task, y = row.get("task"), _num(row.get(target))
        if not isinstance(task, str) or y is None or not isinstance(row.get("strategy"), str):
            continue
        if target == "score" and row.get("metric") not in LABELLED_METRICS:
            continue
        spec = RecipeSpec.of(row)
        i = index.setdefault(spec.key(), len(table.recipes))
        if i == len(table.recipes):
            table.recipes.append(spec)
        if task not in table.tasks:
            shots = _num(row.get("shots"))
            meta = {k[3:]: v for k, v in ((k, _num(v)) for k, v in row.items() if k.startswith("mf_"))
                    if v is not None}
            table.tasks[task] = TaskInfo(None if shots is None else int(shots), meta)
        source = row.get("source") if isinstance(row.get("source"), str) else None
        tf = transfer_features(row)
        cell = acc.setdefault((task, i, source), {"y": [], "sec": [], "tf": {}})
        cell["y"].append(y)
        sec = _num(row.get("seconds"))
        if sec is not None:
            cell["sec"].append(sec)
        cell["tf"].update(tf)
        curve = _json_cell(row.get("curve"))
        if isinstance(curve, list):
            values = [_num(v) for v in curve]
            if len(values) >= 2 and all(v is not None for v in values):
                curves.append(Curve(task, i, tf, [float(v) for v in values if v is not None], y))
    for (task, i, source), cell in acc.items():
        table.records.append(Record(task, i, source, statistics.fmean(cell["y"]),
                                    statistics.median(cell["sec"]) if cell["sec"] else None, len(cell["y"]),
                                    cell["tf"]))
    if len(curves) > max_curves:
        step = len(curves) / max_curves
        curves = [curves[int(j * step)] for j in range(max_curves)]
    table.curves = curves
    return table
