"""The meta-dataset's knowledge base: one Optuna study per (task, shots), one trial per run.

A study is named like every knowledge-base study (:func:`warmstart.knowledge.records.study_name`):
``"<task>@<k>shots|portfolio"``, with the record's meta-features of the task cut to ``k`` labels
per class with seed 0 (:func:`warmstart.knowledge.metafeatures.meta_features`, what ``auto`` records
for seed 0) and, in ``info``, the family and source. Each run is one trial written the way every
study writes its trials (:func:`warmstart.knowledge.trials.record_recipe` before training,
:func:`~warmstart.knowledge.trials.record_result` after; the value is the validation score), so
``warmstart kb export`` and :func:`~warmstart.knowledge.trials.trial_rows` read it back. Extra user
attributes: ``unit`` (the resume key, :func:`benchmarks._meta_portfolio.unit_key`), ``member``,
``tier``, ``family``, ``source_name``, ``transferability`` (LogME and LEEP of the source on the
support set and its domain gap on the pool, as ``auto`` ranks sources), ``cpu_seconds`` (the run as
auto's trial), ``test_full`` (the test metrics of the recipe refit on every label,
:mod:`benchmarks._meta_fulltest`; reporting only); a failed run is a FAIL trial with ``fail_reason``.

Resuming: a unit with a COMPLETE, PRUNED or FAIL trial is done; a RUNNING trial of a unit this
process is about to run was left by a killed process and is marked FAIL with ``interrupted`` (and
not counted as done).
"""

from __future__ import annotations

import math
import time
import warnings
from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.trial import TrialState

from benchmarks._meta_fulltest import full_test
from warmstart.errors import WarmstartError
from warmstart.knowledge.records import ATTR, make_record_attr, study_name, task_key
from warmstart.knowledge.trials import record_recipe, record_result
from warmstart.recipe import Recipe, run_recipe
from warmstart.source import Source
from warmstart.tasks._task import Task

KIND = "portfolio"
DONE_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


def open_study(storage: BaseStorage, task: str, shots: int, meta: dict[str, float] | None,
               info: dict[str, Any]) -> optuna.Study:
    """Create or load the study of (task, shots); write its record the first time (needs ``meta`` then)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    key = task_key(task, shots)
    study = optuna.create_study(study_name=study_name(key, KIND), storage=storage, direction="maximize",
                                load_if_exists=True, pruner=optuna.pruners.NopPruner())
    if ATTR not in study.user_attrs and meta is not None:
        study.set_user_attr(ATTR, make_record_attr(key, KIND, meta, info, {}, strategy=None, shots=shots))
    return study


def stored_done_units(storage: BaseStorage, task: str, shots: int) -> set[str]:
    """:func:`done_units` of the study of (task, shots), or an empty set when there is none (creates nothing)."""
    try:
        study = optuna.load_study(study_name=study_name(task_key(task, shots), KIND), storage=storage)
    except KeyError:
        return set()
    return done_units(study)


def has_record(study: optuna.Study) -> bool:
    """Whether the study's knowledge-base record is written."""
    return ATTR in study.user_attrs


def done_units(study: optuna.Study) -> set[str]:
    """Resume keys of the units that finished (completed, pruned or failed, not interrupted)."""
    return {str(t.user_attrs["unit"]) for t in study.get_trials(deepcopy=False, states=DONE_STATES)
            if "unit" in t.user_attrs and not t.user_attrs.get("interrupted")}


def fail_interrupted(storage: BaseStorage, study: optuna.Study, units: set[str]) -> int:
    """Mark RUNNING trials of ``units`` (left by a killed run) FAIL with ``interrupted``; return how many."""
    n = 0
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if t.user_attrs.get("unit") in units:
            storage.set_trial_user_attr(t._trial_id, "interrupted", True)
            storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
            n += 1
    return n


def run_unit(study: optuna.Study, task: Task, recipe: Recipe, source: Source, unit: str,
             attrs: dict[str, Any], device: str = "cpu") -> dict[str, Any]:
    """Run one recipe through :func:`warmstart.recipe.run_recipe` (``validation="auto"``) as one trial.

    Returns:
        A summary for the progress line: ``state``, ``score``, ``test`` (accuracy), ``seconds``, ``error``.

    Raises:
        KeyboardInterrupt: after marking the trial FAIL with ``interrupted`` (so a rerun repeats it).
    """
    with warnings.catch_warnings():  # the storage's heartbeat is meant for Study.optimize; ask/tell is fine
        warnings.simplefilter("ignore")
        trial = study.ask()
    trial.set_user_attr("unit", unit)
    for k, v in attrs.items():
        trial.set_user_attr(k, v)
    record_recipe(trial, recipe)
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = run_recipe(task, recipe, validation="auto", trial=trial, source=source, device=device,
                                keep_model=False)
    except KeyboardInterrupt:
        trial.set_user_attr("interrupted", True)
        study.tell(trial, state=TrialState.FAIL)
        raise
    except (WarmstartError, RuntimeError, ValueError, optuna.TrialPruned) as exc:
        reason = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
        trial.set_user_attr("fail_reason", reason[:500])
        trial.set_user_attr("cpu_seconds", time.process_time() - c0)
        study.tell(trial, state=TrialState.FAIL)
        return {"state": "FAIL", "score": None, "test": None, "seconds": time.perf_counter() - t0, "error": reason}
    record_result(trial, result)
    trial.set_user_attr("cpu_seconds", time.process_time() - c0)  # the run as auto's trial: no refit
    score = result.score
    full: dict[str, float] = {}
    if score is not None and math.isfinite(score):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                full = full_test(task, recipe, source, result.validation, result.test, device=device)
            trial.set_user_attr("test_full", {k: float(v) for k, v in full.items()})
        except (WarmstartError, RuntimeError, ValueError) as exc:  # the run stands; its test score is missing
            trial.set_user_attr("test_full_error", str(exc)[:500])
    if score is None or not math.isfinite(score):
        trial.set_user_attr("fail_reason", f"not scored ({result.validation_detail})")
        study.tell(trial, state=TrialState.FAIL)
        return {"state": "FAIL", "score": None, "test": result.test.get("accuracy"), "seconds": result.seconds,
                "error": "not scored"}
    study.tell(trial, float(score))
    return {"state": "COMPLETE", "score": float(score), "test": full.get("accuracy", math.nan),
            "seconds": result.seconds, "error": None}
