"""The baseline trial of ``warmstart search``: the unchanged source architecture, fine-tuned.

An architecture search must never end below plain fine-tuning of its source. So before the
architecture candidates, the search runs one more trial: the source model, architecture
unchanged, fine-tuned with a pool-free fine-tuning strategy at its defaults — ``l2sp`` by
default (Li, Grandvalet & Davoine, ICML 2018; the strongest labelled strategy of this project's
few-shot benchmark) or ``finetune`` — as a Recipe run by :func:`warmstart.recipe.run_recipe` under
the same few-shot validation protocol as every candidate (:mod:`warmstart.validation`).

It is a trial of the search's study, recorded like every trial (:func:`record_result`, plus the
candidates' ``val_accuracy``, ``val_loss``, ``params_m`` and ``latency_ms``), its value the study's
objective computed as for a candidate, and marked by the user attribute ``baseline`` (its
strategy). It is added to the study when it has finished (``study.add_trial``: an interrupted
baseline leaves nothing behind); a failed one (diverged, out of memory) is recorded FAIL with its
``fail_reason`` and the search goes on without it. It is not a point of the architecture space,
so the samplers never see it (:mod:`warmstart.search._candidates_only`), and its weights are not
kept: when it wins, its recipe is trained again on every label.

Final choice (:func:`choose`), the tie rule: the best candidate becomes the final model only
when it BEATS the baseline on validation — its objective value (single objective: the value the
search maximizes, primary − λ·costs; ``nsga2``: the primary objective) higher than the
baseline's by more than :data:`TIE` (float noise). Anything else, ties included, keeps the
baseline: when validation cannot separate them (e.g. candidates and baseline all at 1.0 on a
3-per-class holdout), the unchanged source model is the one cheaper to trust. With no finished
candidate the baseline is the final model.

Budget: a wall-time budget includes the baseline trial, which runs first and is never cut short
(it is the floor of the search; a budget shorter than it is overrun by it alone); a trial budget
counts candidates only. A continued study reuses its finished baseline trial of the same recipe.
The scratch study (``inherit=False``) has no baseline: the baseline uses the source's weights.
"""

from __future__ import annotations

import datetime
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import optuna
from optuna.trial import FrozenTrial, TrialState

from warmstart.errors import ConfigError, TrainingDivergedError
from warmstart.knowledge.trials import record_recipe, record_result
from warmstart.recipe import Recipe, run_recipe
from warmstart.search.liveness import FAIL_REASON, one_line

#: pool-free fine-tuning strategies a search may take as its baseline (``none``: no baseline)
BASELINES = ("l2sp", "finetune")
#: user attribute marking the baseline trial (its value: the baseline's strategy)
ATTR = "baseline"
#: a candidate must beat the baseline's validation score by more than this (float noise, not a margin)
TIE = 1e-9
RULE = ("the best candidate replaces the baseline only if its validation score is higher; "
        "ties go to the baseline")


def parse_baseline(name: str | None) -> str | None:
    """``"l2sp"``/``"finetune"`` → the name; ``"none"`` or None → None.

    Raises:
        ConfigError: any other name.
    """
    if name is None or name == "none":
        return None
    if name not in BASELINES:
        raise ConfigError(f"unknown baseline {name!r}; valid: {', '.join(BASELINES)}, none")
    return name


def is_baseline(trial: FrozenTrial) -> bool:
    """Whether ``trial`` is a search's baseline trial (not an architecture candidate)."""
    return ATTR in trial.user_attrs


def baseline_recipe(objective: Any, strategy: str, params: Mapping[str, Any] | None = None) -> Recipe:
    """The baseline's recipe: ``strategy`` (at its defaults unless ``params``) from the search's source."""
    src = objective.source
    return Recipe(strategy, dict(params or {}), source=None if src.path is None else str(src.path),
                  source_task=src.task_name, source_spec=src.spec, shots=objective.task.shots, seed=objective.seed)


def _now() -> datetime.datetime:
    return datetime.datetime.now()


def run_baseline(objective: Any, study: optuna.Study, strategy: str,
                 params: Mapping[str, Any] | None = None) -> tuple[FrozenTrial | None, dict[str, Any]]:
    """Run the baseline trial (or reuse the study's finished one of the same recipe) and add it to ``study``.

    Args:
        objective: The search's :class:`~warmstart.search.nas.CandidateObjective` (task, source,
            seed, device, objectives and how a trial's value is computed).
        study: The search's study.
        strategy: One of :data:`BASELINES`.
        params: The strategy's hyperparameters (default: its defaults).

    Returns:
        The finished baseline trial (None when it failed), and its report: ``strategy``,
        ``params``, ``seconds`` (0 when reused), ``reused``, ``failed`` (the reason, or None).

    Raises:
        ConfigError: ``params`` the strategy does not take (before anything trains).
    """
    recipe = baseline_recipe(objective, strategy, params)
    report: dict[str, Any] = {"strategy": strategy, "params": dict(recipe.params), "seconds": 0.0,
                              "reused": False, "failed": None}
    for t in reversed(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))):
        if is_baseline(t) and Recipe.from_json(t.user_attrs["recipe"]).key() == recipe.key():
            return t, {**report, "reused": True}
    start = _now()
    trial = optuna.trial.create_trial(value=0.0)  # holds the user attributes until the trial is added
    trial.set_user_attr(ATTR, strategy)
    record_recipe(cast(Any, trial), recipe)  # a FrozenTrial takes user attributes as a Trial does
    try:
        result = run_recipe(objective.task, recipe, validation="auto", source=objective.source,
                            device=objective.device)
    except (TrainingDivergedError, RuntimeError) as exc:  # as a candidate's failure: recorded, the search goes on
        trial.set_user_attr(FAIL_REASON, one_line(exc))
        _add(study, trial, start, TrialState.FAIL, None)
        print(f"warning: the {strategy} baseline failed ({one_line(exc)}); the search goes on without it",
              file=sys.stderr)
        return None, {**report, "failed": one_line(exc)}
    record_result(cast(Any, trial), result)
    metrics = objective.metrics_of(result)
    for k, v in metrics.items():
        trial.set_user_attr(k, v)
    value = objective.value_of(metrics)
    values = [float(v) for v in (value if isinstance(value, list) else [value])]
    if not all(math.isfinite(v) for v in values):  # as the driver does for a candidate: FAIL, saying why
        reason = f"the objective returned {value!r}, not a finite score"
        trial.set_user_attr(FAIL_REASON, reason)
        _add(study, trial, start, TrialState.FAIL, None)
        return None, {**report, "seconds": result.seconds, "failed": reason}
    _add(study, trial, start, TrialState.COMPLETE, values)
    added = max((t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if is_baseline(t)),
                key=lambda t: t.number)
    return added, {**report, "seconds": result.seconds}


def _add(study: optuna.Study, trial: FrozenTrial, start: datetime.datetime, state: TrialState,
         values: list[float] | None) -> None:
    """Add the finished baseline ``trial`` to ``study`` with its state, values and start/end times."""
    done = optuna.trial.create_trial(state=state, values=values, user_attrs=dict(trial.user_attrs))
    done.datetime_start, done.datetime_complete = start, _now()
    study.add_trial(done)


@dataclass
class Choice:
    """The search's final choice between its best candidate and its baseline.

    Attributes:
        winner: ``baseline`` or ``candidate``.
        trial: The winner's trial.
        candidate: The best candidate's trial (None: no candidate finished).
        baseline: The baseline trial (None: no baseline, or it failed).
        reason: One line saying why.
    """

    winner: str
    trial: FrozenTrial
    candidate: FrozenTrial | None
    baseline: FrozenTrial | None
    reason: str

    def to_json(self) -> dict[str, Any]:
        """Which won, the rule, and both validation scores (``value``: what was compared)."""
        def scores(t: FrozenTrial | None) -> dict[str, Any] | None:
            return None if t is None else {"trial": t.number, "val_accuracy": t.user_attrs.get("val_accuracy"),
                                           "val_loss": t.user_attrs.get("val_loss"), "value": score(t)}
        return {"winner": self.winner, "reason": self.reason, "rule": RULE,
                "candidate": scores(self.candidate), "baseline": scores(self.baseline)}


def score(trial: FrozenTrial) -> float:
    """What the final choice compares: the trial's first value (the objective, or nsga2's primary)."""
    return float(trial.values[0])


def choose(candidate: FrozenTrial | None, baseline: FrozenTrial | None) -> Choice:
    """The final model's trial by the tie rule (module docstring): the baseline unless a candidate beats it.

    Raises:
        ValueError: neither trial (the search has nothing to return).
    """
    if baseline is None:
        if candidate is None:
            raise ValueError("choose() needs a candidate or a baseline trial")
        return Choice("candidate", candidate, candidate, None, "no baseline trial: the best candidate")
    if candidate is None:
        return Choice("baseline", baseline, None, baseline, "no architecture candidate finished: the baseline")
    c, b = score(candidate), score(baseline)
    if c > b + TIE:
        return Choice("candidate", candidate, candidate, baseline,
                      f"candidate trial {candidate.number} beats the baseline on validation ({c:.4f} > {b:.4f})")
    return Choice("baseline", baseline, candidate, baseline,
                  f"no candidate beats the baseline on validation (best candidate, trial {candidate.number}: "
                  f"{c:.4f}; baseline: {b:.4f}; ties go to the baseline)")
