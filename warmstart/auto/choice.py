"""auto's final choice among its completed trials, and how it is stated.

Without a prior the winner is the trial with the best validation score. With one
(:mod:`warmstart.auto.prior_plan`), and at least two completed trials scored with target labels,
the winner is chosen by *posterior mean*: each noisy few-shot validation score shrunk toward the
prior's prediction of it (:meth:`warmstart.knowledge.prior.Prior.final_scores`; a normal-normal
model whose validation variance comes from the held-out labels behind the score and the spread of
its fold scores), not the validation score alone, and by the one-standard-error rule
(:func:`one_se_pick`): among the queued recipes (the prior's picks) within one posterior standard
deviation of the best, the prior's own prediction decides; a configuration the search drew wins
only when it beats them all by more than that. With fewer trials, or a label-free
score, the plain best validation score decides, and :func:`selection` says why.

The trials ran at the trial budget, but the winner is retrained at its strategy's full length
(:mod:`warmstart.auto.final_fit`), and strategies gain very differently from it. When the prior has
length gains (:mod:`warmstart.knowledge._gains`), each trial's posterior mean adds the gain of the
final fit it would get in the time left (:func:`~warmstart.auto.final_fit.length_fraction`), and the
trials are compared by that expected score of the model auto returns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import optuna
import torch
from optuna.trial import FrozenTrial, TrialState

from warmstart.auto.arch import split_params
from warmstart.auto.final_fit import FinalFit, final_fit, length_fraction
from warmstart.auto.prior_plan import PriorPlan
from warmstart.auto.search import fixed_params, is_queued
from warmstart.errors import ConfigError
from warmstart.knowledge.prior import FinalScore, Observed
from warmstart.tasks._task import Task, n_items
from warmstart.validation import plan_validation

LABELLED_PROTOCOLS = ("split", "kfold", "loo")


@dataclass
class Choice:
    """The chosen trial and how it was chosen.

    Attributes:
        trial: The winner.
        by: ``posterior`` (validation shrunk toward the prior) or ``validation`` (the plain best value).
        scores: Trial number → its validation score, the prior's prediction and the posterior
            (only when ``by`` is ``posterior``).
        why_plain: Why a prior did not decide (None when it did, or when there is no prior).
        rule: How the one-standard-error rule changed the pick (None when the best posterior won).
    """

    trial: FrozenTrial
    by: str = "validation"
    scores: dict[int, FinalScore] = field(default_factory=dict)
    why_plain: str | None = None
    rule: str | None = None


def held_out_labels(task: Task, seed: int = 0) -> int | None:
    """Labels behind a trial's validation score (every fold's held-out labels); None when label-free."""
    try:
        plan = plan_validation(task, "auto", seed=seed)
    except ConfigError:
        return None
    if plan.kind not in LABELLED_PROTOCOLS:
        return None
    n = sum(len(f.y_val) for f in plan.folds if f.y_val is not None)
    return n or None


def held_out_unseen(task: Task, seed: int = 0) -> bool:
    """Whether the validation holds out the only label of each held-out class: leave-one-out with one label
    per class, where a fold's held-out class is absent from the labels it trains on (:mod:`warmstart.validation`)."""
    try:
        plan = plan_validation(task, "auto", seed=seed)
    except ConfigError:
        return False
    return plan.kind == "loo" and all(
        f.y_val is not None and f.y_train is not None and not bool(torch.isin(f.y_val, f.y_train).any())
        for f in plan.folds)


def trial_recipe(trial: FrozenTrial) -> dict[str, Any]:
    """The recipe a trial ran (user attribute ``recipe``), else rebuilt from its parameters."""
    stored = trial.user_attrs.get("recipe")
    if isinstance(stored, dict) and stored.get("strategy"):
        return stored
    strategy = str(trial.params.get("strategy"))
    params, arch = split_params(strategy, trial.params)
    return {"strategy": strategy, "params": params, "architecture": arch}


def choose(study: optuna.Study, plan: PriorPlan | None, task: Task, seed: int = 0, *,
           overrides: dict[str, Any] | None = None, seconds_left: float | None = None) -> Choice:
    """The winner among the study's completed trials (see the module docstring).

    Args:
        study: The search's study.
        plan: The prior's plan, or None (no prior: the best validation score).
        task: The target task (its few-shot cut).
        seed: Its seed (the validation protocol's).
        overrides: The user's fixed parameters (``--params``).
        seconds_left: Seconds the final fit may take (None: no time budget).

    Raises:
        ValueError: the study has no completed trial.
    """
    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.value is not None and math.isfinite(t.value)]
    if plan is None:
        return Choice(study.best_trial)
    n = held_out_labels(task, seed)
    if n is None:
        return Choice(study.best_trial, why_plain="the scores are label-free, so the prior's shrinkage does not apply")
    if len(done) < 2:
        return Choice(study.best_trial, why_plain="shrinkage toward the prior needs two completed trials to compare")
    scores = expected_scores(done, plan, task, n, overrides=overrides, seconds_left=seconds_left)
    by_number = {done[f.index].number: f for f in scores}
    pick, best = one_se_pick(scores, [is_queued(done[f.index]) for f in scores]), scores[0]
    rule = None
    if pick is not best:
        how = "queued" if is_queued(done[best.index]) else "drawn by the search"
        rule = (f"one-standard-error rule: the queued recipe of trial {done[pick.index].number} "
                f"(expected {pick.expected:.3f}; the prior alone expects {pick.predicted_expected:.3f}) kept over "
                f"trial {done[best.index].number}, {how} (expected {best.expected:.3f} ± {best.posterior.std:.3f}; "
                f"the prior alone {best.predicted_expected:.3f}): within one standard error the prior decides")
    return Choice(done[pick.index], "posterior", by_number, rule=rule)


def trial_source(trial: FrozenTrial) -> str:
    """The name of the source a trial ran from (the stand-in's where the one it drew had no data)."""
    return str(trial.user_attrs.get("source_used", trial.params.get("source", "")))


def observed_trials(done: list[FrozenTrial], plan: PriorPlan) -> list[Observed]:
    """Completed trials as the prior reads them: recipe, validation score, fold scores, source's transferability."""
    observed = []
    for t in done:
        folds = [float(v) for v in (t.user_attrs.get("fold_scores") or []) if isinstance(v, (int, float))]
        observed.append(Observed(trial_recipe(t), float(t.value or 0.0), folds, plan.sources.get(trial_source(t))))
    return observed


def expected_scores(done: list[FrozenTrial], plan: PriorPlan, task: Task, n_examples: int, *,
                    overrides: dict[str, Any] | None = None, seconds_left: float | None = None) -> list[FinalScore]:
    """The prior's final scores of completed trials (:meth:`~warmstart.knowledge.prior.Prior.final_scores`), each
    with the length gain of the final fit it would get in ``seconds_left``, best expected score first."""
    fractions = [_fraction(t, overrides, n_items(task.x_train), seconds_left) for t in done]
    return plan.prior.final_scores(observed_trials(done, plan), plan.situation, n_examples=n_examples,
                                   fractions=fractions if plan.prior.gains is not None else None)


def incumbent_final_fit(study: optuna.Study, plan: PriorPlan | None, task: Task, seed: int = 0, *,
                        overrides: dict[str, Any] | None = None,
                        seconds_left: float | None = None) -> tuple[FrozenTrial, FinalFit] | None:
    """The trial :func:`choose` would pick now, were its final fit given ``seconds_left``, and that trial's final
    fit at full length (None: nothing completed yet).

    The search keeps this fit's time free (:func:`warmstart.auto.search.run_search`), up to the seconds it
    may keep for a final fit; ``seconds_left`` is those seconds. Ranking the incumbent by anything else than
    the final choice with the time its final fit will have could leave the chosen recipe a final fit cut
    short, or keep time for a recipe that the final choice then passes over, and leave that time unused: on
    ``mnist5k-b-inverted`` with 10 labels per class (revision 13, seed 1) the search kept time for mcc's
    full length, which the final choice ranked first only without a limit on its time; with the ~110 s kept,
    it chose llrd, retrained in 3 s, and about 100 s of the 201 s budget were left unused.
    """
    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return None
    pick = choose(study, plan, task, seed, overrides=overrides, seconds_left=seconds_left).trial
    strategy, params, fit, train = trial_fit_args(pick, overrides)
    return pick, final_fit(strategy, params, overrides, n_items(task.x_train), fit, None, train_seconds=train)


def trial_fit_args(trial: FrozenTrial, overrides: dict[str, Any] | None) -> tuple[str, dict[str, Any], float | None,
                                                                               float | None]:
    """A trial's strategy, its parameters as its trials ran them, and its measured fit and training seconds."""
    strategy = str(trial.params.get("strategy"))
    params, _ = split_params(strategy, trial.params)
    params.update(fixed_params(strategy, overrides))
    fit, train = trial.user_attrs.get("fit_seconds"), trial.user_attrs.get("train_seconds")
    return strategy, params, None if fit is None else float(fit), None if train is None else float(train)


def _fraction(trial: FrozenTrial, overrides: dict[str, Any] | None, n_labelled: int,
              seconds_left: float | None) -> float:
    """How far the trial's final fit would go toward its full length in ``seconds_left``."""
    strategy, params, fit, train = trial_fit_args(trial, overrides)
    return length_fraction(strategy, params, overrides, n_labelled, fit, seconds_left, train)


def one_se_pick(scores: list[FinalScore], is_queued: list[bool]) -> FinalScore:
    """The one-standard-error rule over expected scores (best first in ``scores``), the prior breaking the tie.

    The best expected score m (posterior mean plus length gain, :attr:`FinalScore.expected`; std s)
    sets the floor m − s. Among the queued recipes — those the prior (or a past task) put forward,
    whose score therefore rests on more than this task's few labels — whose expected score reaches
    the floor, the one the prior alone expects highest (:attr:`FinalScore.predicted_expected`: its
    prediction plus its length gain) wins; the best trial wins when no queued recipe reaches the floor.

    Two reasons, both about noise the posterior does not model. With a handful of labels the search's
    many drawn configurations include some whose validation score is high by chance (the winner's
    curse); the floor keeps them from displacing a carried-over recipe they do not clearly beat. And
    the trials are scored at the trial budget while auto returns the full length, where strategies
    reorder: on the length-gain benchmark's 7 image cells the trial's validation plus the expected
    gain picked a strategy 0.0096 below the best full-length one on average, the posterior plus the
    gain 0.0053, the prior's prediction plus the gain 0.0000 (``benchmarks/results/trial_choice``).
    Within one standard error the validation score cannot tell recipes apart, so the prior does. The
    rule has no parameter to tune: one standard error, as in Breiman et al., *Classification and
    Regression Trees* (1984) and Hastie, Tibshirani & Friedman, *The Elements of Statistical
    Learning* (2009), §7.10.

    Args:
        scores: The trials' final scores, best expected score first.
        is_queued: Per entry of ``scores``, whether that trial ran a queued recipe.
    """
    best = scores[0]
    floor = best.expected - best.posterior.std
    kept = [f for f, q in zip(scores, is_queued, strict=True) if q and f.expected >= floor]
    # equal predictions: the higher expected score (``scores`` is sorted by it; max keeps the first)
    return max(kept, key=lambda f: f.predicted_expected) if kept else best


def annotate(trials: list[dict[str, Any]], choice: Choice) -> None:
    """Add ``predicted``, ``posterior`` and ``posterior_std`` to each completed trial row (in place)."""
    for row in trials:
        f = choice.scores.get(int(row["number"]))
        if f is not None:
            row.update(predicted=f.predicted, posterior=f.posterior.mean, posterior_std=f.posterior.std,
                       weight_prior=f.posterior.weight_prior, length_gain=f.gain)


def selection(trials: list[dict[str, Any]], protocol: str, choice: Choice | None = None) -> dict[str, Any]:
    """How the winner was chosen, in words and numbers (for run.json and the report).

    ``trials`` are the rows of auto's result (annotated by :func:`annotate`); ``choice`` says
    whether the prior's posterior or the plain validation score decided (None: the plain score).
    """
    states = [str(t["state"]) for t in trials]
    n, pruned, failed = states.count("COMPLETE"), states.count("PRUNED"), states.count("FAIL")
    cut = sum(1 for t in trials if t.get("stopped_by_budget"))
    gray = sum(1 for t in trials if t.get("pruned_by"))
    by = choice.by if choice is not None else "validation"
    if n == 1:
        how = "the only completed trial"
    elif by == "posterior":
        gained = any(t.get("length_gain") for t in trials)
        plus = ", plus what its final fit's length is expected to add" if gained else ""
        how = (f"the best posterior mean (the validation score shrunk toward the prior's prediction{plus}) among "
               f"{n} completed trials")
    else:
        how = f"the best validation score among {n} completed trials"
    if choice is not None and choice.why_plain and n > 1:
        how += f" ({choice.why_plain})"
    if choice is not None and choice.rule:
        how += f" ({choice.rule})"
    notes = [f"{cut} of them stopped by the budget"] if cut else []
    notes += [f"{gray} of them by the prior's gray-box model"] if gray else []
    others = [f"{pruned} pruned" + (f" ({', '.join(notes)})" if notes else "")] if pruned else []
    others += [f"{failed} failed"] if failed else []
    text = how + (f" (not counted: {', '.join(others)})" if others else "") + f"; scored by {protocol}"
    out: dict[str, Any] = {"completed": n, "pruned": pruned, "stopped_by_budget": cut, "failed": failed,
                           "protocol": protocol, "text": text, "by": by}
    if gray:
        out["pruned_by_prior"] = gray
    if choice is not None and choice.rule:
        out["rule"] = choice.rule
    if choice is not None and choice.scores:
        out["scores"] = [{"number": t["number"], "strategy": t.get("strategy"), "validation": t["value"],
                          "predicted": t["predicted"], "posterior": t["posterior"],
                          "length_gain": t.get("length_gain", 0.0)}
                         for t in trials if "posterior" in t]
    return out


def no_search(protocol: str, why: str) -> dict[str, Any]:
    """:func:`selection` of a run that fitted the prior's first pick without a search (``why``: the note saying so)."""
    return {"completed": 0, "pruned": 0, "stopped_by_budget": 0, "failed": 0, "protocol": protocol,
            "text": f"the prior's first pick, without a search ({why.removeprefix('no search: ')})", "by": "prior"}
