"""The trial table: every finished trial of every study, written and read back the same way.

Writing: the objective of every study (``tune``, ``search``, ``auto``) runs
:func:`warmstart.recipe.run_recipe` and hands the :class:`~warmstart.recipe.Result` to
:func:`record_result`, which stores it as user attributes of the Optuna trial:

=====================  =================================================================
``recipe``             :meth:`Recipe.to_json() <warmstart.recipe.Recipe.to_json>`
``validation``         how the score was obtained (``split``, ``kfold``, ``loo``, ...)
``validation_detail``  one line describing the protocol
``metric``             the validation metric
``fold_scores``        the score of each fold
``seconds``            wall time of the run
``curve``              per-epoch validation metric of the first fold
``n_epochs``           epochs trained by the first fold (only when the fitted strategy was kept)
``adaptations``        what was adapted between source and target
``notes``              notes for the user
``test``               test metrics, **for reporting only**
=====================  =================================================================

The trial's value is the objective's return value (``result.score``); this module does not
set it. ``test`` is kept apart on purpose: no sampler, warm start, prior or pruner may read
it — it is test information, and a search that read it would select on the test split.
Only :func:`trial_rows` (the exported meta-dataset, for reports and offline analysis) reads it,
into ``test_*`` columns.

Reading: :func:`trial_rows` flattens every COMPLETE and PRUNED trial of every study that has
a warmstart record into one row (see its docstring for the columns). Trials written before
the ``recipe`` attribute existed still give a row, rebuilt from ``trial.params`` and the
study record's strategy.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from warmstart.errors import ConfigError
from warmstart.knowledge.records import ATTR, list_records

#: the search families a kind starts with (``tune:<strategy>``, ``search:<strategy>``, ``auto``)
FAMILIES = ("tune", "search", "auto", "portfolio")  # portfolio: the meta-dataset builder's studies

#: the fixed columns of :func:`trial_rows`, in order; ``mf_*``, ``p_*`` and ``test_*`` follow
FIXED_COLUMNS = ("study", "kind", "task", "trial", "state", "shots", "strategy", "source", "source_task",
                 "weights", "seed", "architecture", "params", "score", "metric", "validation", "seconds",
                 "n_epochs", "curve")

_RESULT_ATTRS = ("validation", "validation_detail", "metric", "fold_scores", "seconds", "curve", "adaptations",
                 "notes")


def _jsonable(value: Any) -> Any:
    """A JSON-serializable copy (anything else becomes its ``str``)."""
    return json.loads(json.dumps(value, default=str))


def record_recipe(trial: optuna.Trial, recipe: Any) -> None:
    """Store the recipe a trial runs (user attribute ``recipe``).

    Call it before training, so a trial that is pruned (and so never has a Result) still
    tells which recipe it ran. :func:`record_result` calls it too.
    """
    trial.set_user_attr("recipe", recipe.to_json())


def record_result(trial: optuna.Trial, result: Any) -> None:
    """Write a :class:`~warmstart.recipe.Result` onto an Optuna trial (see the module docstring).

    The same attributes for every study kind, so every trial is one row of the meta-dataset.
    The test metrics go under ``test`` and are never read by a search. The trial's value is not
    set here: the objective returns ``result.score``.

    Args:
        trial: The running trial.
        result: What :func:`warmstart.recipe.run_recipe` returned for it.
    """
    record_recipe(trial, result.recipe)
    for name in _RESULT_ATTRS:
        trial.set_user_attr(name, _jsonable(getattr(result, name)))
    history = getattr(result.strategy, "history_", None)
    epochs = getattr(history, "epochs", None)
    if isinstance(epochs, list):
        trial.set_user_attr("n_epochs", len(epochs))
    trial.set_user_attr("test", _jsonable(dict(result.test)))


def _matches(kind: str, kinds: Iterable[str] | None) -> bool:
    if kinds is None:
        return True
    return any(kind == k or kind.split(":", 1)[0] == k for k in kinds)


def _check_kinds(kinds: Iterable[str] | str | None) -> list[str] | None:
    if kinds is None:
        return None
    out = [kinds] if isinstance(kinds, str) else list(kinds)
    for k in out:
        if k.split(":", 1)[0] not in FAMILIES:
            raise ConfigError(f"unknown study kind {k!r}; valid kinds: {', '.join(FAMILIES)} "
                              "(or a full kind such as tune:finetune)")
    return out


def _scalar(value: Any) -> Any:
    """A CSV/Parquet cell: scalars as they are, anything else as JSON text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def _legacy_recipe(trial: FrozenTrial, attr: Mapping[str, Any]) -> dict[str, Any]:
    """A recipe rebuilt from a trial written before the ``recipe`` attribute (params only)."""
    params = dict(trial.params)
    strategy = attr.get("strategy")
    source = None
    if attr.get("kind") == "auto" or strategy == "auto":  # auto's joint space: source, strategy, "<strategy>.<p>"
        strategy = params.pop("strategy", strategy)
        source = params.pop("source", None)
        prefix = f"{strategy}."
        params = {k[len(prefix):]: v for k, v in params.items() if k.startswith(prefix)}
    return {"strategy": strategy, "params": params, "source": source, "weights": None, "source_task": None,
            "architecture": None, "shots": attr.get("shots"), "seed": None}


def _curve(trial: FrozenTrial) -> list[float]:
    curve = trial.user_attrs.get("curve")
    if isinstance(curve, list):
        return [float(v) for v in curve]
    return [float(trial.intermediate_values[s]) for s in sorted(trial.intermediate_values)]


def _row(study: str, attr: Mapping[str, Any], trial: FrozenTrial) -> dict[str, Any]:
    ua = trial.user_attrs
    stored = ua.get("recipe")
    recipe: dict[str, Any] = stored if isinstance(stored, dict) else _legacy_recipe(trial, attr)
    curve = _curve(trial)
    n_epochs = ua.get("n_epochs")
    value = trial.values[0] if trial.state == TrialState.COMPLETE and trial.values else None  # primary objective
    shots = recipe.get("shots")
    row: dict[str, Any] = {
        "study": study, "kind": attr.get("kind"), "task": attr.get("task"), "trial": trial.number,
        "state": trial.state.name, "shots": attr.get("shots") if shots is None else shots,
        "strategy": recipe.get("strategy"), "source": recipe.get("source"),
        "source_task": recipe.get("source_task"), "weights": recipe.get("weights"), "seed": recipe.get("seed"),
        "architecture": None if recipe.get("architecture") is None else json.dumps(recipe["architecture"],
                                                                                   sort_keys=True),
        "params": json.dumps(recipe.get("params") or {}, sort_keys=True),
        "score": None if value is None or not math.isfinite(value) else float(value),
        "metric": ua.get("metric"), "validation": ua.get("validation"), "seconds": ua.get("seconds"),
        "n_epochs": int(n_epochs) if isinstance(n_epochs, (int, float)) else len(curve),
        "curve": json.dumps(curve),
    }
    for name, v in (attr.get("meta_features") or {}).items():
        row[f"mf_{name}"] = v
    for name, v in (recipe.get("params") or {}).items():
        row[f"p_{name}"] = _scalar(v)
    test = ua.get("test")
    if isinstance(test, dict):
        for name, v in test.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                row[f"test_{name}"] = v
    return row


def trial_rows(storage: BaseStorage, kinds: Iterable[str] | str | None = None) -> list[dict[str, Any]]:
    """One flat row per finished (COMPLETE or PRUNED) trial of every study with a warmstart record.

    Columns (:func:`columns` gives their order): ``study``, ``kind`` (``tune:<strategy>``,
    ``search:<strategy>``, ``auto``), ``task`` (the task key), ``trial`` (number), ``state``,
    ``shots``; the recipe: ``strategy``, ``source``, ``source_task``, ``weights``, ``seed``,
    ``architecture`` and ``params`` (JSON text) and each parameter as ``p_<name>``; ``score``
    (the trial's value; empty for pruned trials), ``metric``, ``validation``, ``seconds``,
    ``n_epochs`` (epochs trained by the first fold when recorded, else the number of evaluated
    epochs in the curve), ``curve`` (JSON text); each task meta-feature as ``mf_<name>``; each
    scalar test metric as ``test_<name>`` (reporting only). Cells a trial does not have are None.

    Trials without a ``recipe`` attribute (written before :func:`record_result` existed) give a
    row from ``trial.params`` and the study record's strategy (``auto``: the ``strategy`` and
    ``source`` parameters); their fixed, untuned parameters are unknown.

    Args:
        storage: An opened knowledge base (:func:`warmstart.knowledge.open_storage`).
        kinds: Only studies of these kinds: a family (``tune``, ``search``, ``auto``) or a full
            kind (``tune:finetune``); None for all.

    Raises:
        ConfigError: an unknown kind.
        StorageError: a study was written by an incompatible knowledge-base version.
    """
    wanted = _check_kinds(kinds)
    rows: list[dict[str, Any]] = []
    for rec in list_records(storage, counts=False):
        if not _matches(rec.kind, wanted):
            continue
        study = optuna.load_study(study_name=rec.study_name, storage=storage)
        attr = study.user_attrs.get(ATTR) or {}
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
            rows.append(_row(rec.study_name, attr, t))
    return rows


def columns(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """The stable column order of a table: :data:`FIXED_COLUMNS`, then sorted ``mf_``, ``p_``, ``test_``."""
    seen: set[str] = set()
    for r in rows:
        seen.update(r)
    out = list(FIXED_COLUMNS)
    for prefix in ("mf_", "p_", "test_"):
        out.extend(sorted(c for c in seen if c.startswith(prefix)))
    out.extend(sorted(seen - set(out)))
    return out
