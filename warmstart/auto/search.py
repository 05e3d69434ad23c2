"""The joint search of auto: source × strategy × hyperparameters in one Optuna study.

Each trial picks a source (among the best-ranked), a strategy (among those the
situation allows) and that strategy's hyperparameters (conditional parameters
named ``STRATEGY.PARAM``). It is scored on validation data only: the labelled
validation split, or cross-validation on the few-shot support set
(:func:`warmstart.search._objective.evaluate_config`, which also feeds Optuna's
pruner every epoch); with no target labels, by the label-free selection score
the domain-adaptation strategy monitored (negated when lower is better).

Warm start (Feurer et al. 2015): before the first trial, the best
configurations of the most similar past tasks' auto studies in the knowledge
base are enqueued, where their source and strategy are among today's choices.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.trial import TrialState

from warmstart.auto.sources import RankedSource
from warmstart.errors import WarmstartError
from warmstart.knowledge.records import ATTR, list_records, make_record_attr, study_name
from warmstart.knowledge.similarity import rank_similar
from warmstart.search._objective import evaluate_config
from warmstart.search.budget import Budget, counted_trials
from warmstart.search.space import search_space, suggest
from warmstart.strategies import get_strategy, strategy_class
from warmstart.tasks._task import Task

KIND = "auto"
#: fixed settings that keep one trial affordable inside a time budget
TRIAL_FIXED: dict[str, dict[str, Any]] = {
    "source_only": {"epochs": 3}, "dann": {"epochs": 3}, "coral": {"epochs": 3}, "mmd": {"epochs": 3},
    "cdan": {"epochs": 3}, "multitask": {"epochs": 5},
}


def fixed_params(strategy: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Settings fixed for every trial of ``strategy``: affordable defaults, then the user's overrides."""
    from warmstart.strategies import strategy_class

    table = strategy_class(strategy).param_table()
    fixed = dict(TRIAL_FIXED.get(strategy, {}))
    fixed.update({k: v for k, v in (overrides or {}).items() if k in table})
    return fixed


def joint_space(strategies: list[str], sources: list[RankedSource],
                overrides: dict[str, Any] | None = None) -> dict[str, BaseDistribution]:
    """Every parameter of the joint space (for the knowledge-base record)."""
    space: dict[str, BaseDistribution] = {
        "source": CategoricalDistribution([s.name for s in sources]),
        "strategy": CategoricalDistribution(strategies),
    }
    for s in strategies:
        for k, d in search_space(s, fixed_params(s, overrides)).items():
            space[f"{s}.{k}"] = d
    return space


def default_configs(strategies: list[str], sources: list[RankedSource], overrides: dict[str, Any] | None = None,
                    k: int = 3) -> list[dict[str, Any]]:
    """Each of the first ``k`` strategies at its defaults, from the best-ranked source.

    The defaults were set in code on tasks other than any user's target, so they are
    "settings carried over from other tasks": a search that starts from them can only
    improve on what a user gets by running one strategy with its defaults.
    """
    from warmstart.strategies import strategy_class

    out = []
    for strat in strategies[:k]:
        table = strategy_class(strat).param_table()
        cfg: dict[str, Any] = {"source": sources[0].name, "strategy": strat}
        for name, dist in search_space(strat, fixed_params(strat, overrides)).items():
            default = table[name].default
            if _contains(dist, default):
                cfg[f"{strat}.{name}"] = default
        out.append(cfg)
    return out


def warm_configs(storage: Any, key: str, meta: dict[str, float], space: dict[str, BaseDistribution],
                 k: int = 3) -> tuple[list[dict[str, Any]], list[str]]:
    """Best configurations of the k most similar past auto studies that fit today's space."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        recs = [r for r in list_records(storage, KIND) if r.task != key and r.best_params]
    if not recs:
        return [], []
    near = rank_similar(meta, {r.study_name: r.meta_features for r in recs}, k)
    by_name = {r.study_name: r for r in recs}
    configs, notes = [], []
    for name, dist in near:
        params = by_name[name].best_params or {}
        fit = {p: v for p, v in params.items() if p in space and _contains(space[p], v)}
        if "strategy" in fit and "source" in fit:
            configs.append(fit)
            notes.append(f"queued the best configuration of {by_name[name].task} (distance {dist:.3f})")
    return configs, notes


def _contains(dist: BaseDistribution, value: Any) -> bool:
    try:
        return bool(dist._contains(dist.to_internal_repr(value)))
    except (ValueError, TypeError, AttributeError):
        return False


def _label_free_value(strat: Any) -> float:
    from warmstart.strategies._selection import SELECTORS

    hist = strat.history_
    _key, mode = SELECTORS[strat.select_by]
    value = hist.best_value if hist is not None and hist.best_value is not None else None
    if value is None:
        raise WarmstartError(f"{strat.name}: no label-free selection score was logged")
    return -float(value) if mode == "min" else float(value)


def run_search(task: Task, sources: list[RankedSource], strategies: list[str], budget: Budget, storage: Any,
               key: str, meta: dict[str, float], *, seed: int = 0, device: str = "auto",
               progress: bool = True, overrides: dict[str, Any] | None = None) -> tuple[optuna.Study, list[str]]:
    """Run (or continue) the auto study for ``task`` until the budget is spent; return it and notes.

    ``overrides`` fixes hyperparameters (e.g. ``{"epochs": 5}``) for every strategy that has them.
    """
    from warmstart.engine.progress import progress_bar

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = joint_space(strategies, sources, overrides)
    name = study_name(key, KIND)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True)
    study = optuna.create_study(study_name=name, storage=storage, direction="maximize", load_if_exists=True,
                                sampler=sampler, pruner=optuna.pruners.HyperbandPruner(min_resource=1))
    study.set_user_attr(ATTR, make_record_attr(key, KIND, meta, {"n_classes": task.n_classes}, space,
                                               strategy="auto", shots=task.shots))
    notes: list[str] = []
    if not study.get_trials(deepcopy=False):
        configs, notes = warm_configs(storage, key, meta, space)
        if not configs:
            configs = default_configs(strategies, sources, overrides)
            notes.append(f"no similar past task in the knowledge base: the first trials are the defaults "
                         f"(chosen on other tasks) of {', '.join(c['strategy'] for c in configs)}")
        for cfg in configs:
            study.enqueue_trial(cfg, skip_if_exists=True)
        study.set_user_attr("warm_start_enqueued", len(configs))
    by_name = {s.name: s for s in sources}
    labelled = task.shots != 0 and len(task.y_train) > 0
    deadline = time.time() + budget.seconds if budget.seconds is not None else None
    target = budget.trials

    def objective(trial: optuna.Trial) -> float:
        src_name = trial.suggest_categorical("source", [s.name for s in sources])
        strat_name = str(trial.suggest_categorical("strategy", strategies))
        fixed = fixed_params(strat_name, overrides)
        sub = {f"{strat_name}.{k}": d for k, d in search_space(strat_name, fixed).items()}
        params = {k.split(".", 1)[1]: v for k, v in suggest(trial, sub).items()}
        params.update(fixed)
        src = by_name[str(src_name)].source
        if strategy_class(strat_name).needs_source_task and src.task_name is None:
            # the objective stays a function of (source, strategy): the best-ranked source with data stands in
            alt = next((s for s in sources if s.source.task_name is not None), None)
            if alt is None:
                raise optuna.TrialPruned(f"{strat_name} needs source data and no source has any")
            src = alt.source
            trial.set_user_attr("source_used", alt.name)
        t0 = time.perf_counter()
        try:
            if labelled:
                res = evaluate_config(task, strat_name, params, src, trial=trial, seed=seed, device=device)
                value = res.value
                trial.set_user_attr("history", [])
            else:
                strat = get_strategy(strat_name, seed=seed, device=device, progress=False, **params)
                strat.fit(task, src)
                value = _label_free_value(strat)
                trial.set_user_attr("selection", strat.select_by)
        except optuna.TrialPruned:
            raise
        except (WarmstartError, RuntimeError, ValueError) as exc:
            trial.set_user_attr("fail_reason", f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
            raise
        trial.set_user_attr("seconds", time.perf_counter() - t0)
        return float(value)

    before = counted_trials(study)
    with progress_bar("auto search", target if target else budget.seconds, progress) as bar:
        t_start = time.time()
        while True:
            done = counted_trials(study) - before
            if target is not None and done >= target:
                break
            if deadline is not None and time.time() >= deadline:
                break
            study.optimize(objective, n_trials=1, catch=(WarmstartError, RuntimeError, ValueError))
            last = study.get_trials(deepcopy=False)[-1]
            if last.state == TrialState.FAIL and all(t.state == TrialState.FAIL for t in study.get_trials(
                    deepcopy=False)[before:]) and len(study.trials) - before >= 5:
                raise WarmstartError(f"the first 5 auto trials all failed; last reason: "
                                     f"{last.user_attrs.get('fail_reason', 'unknown')}")
            bar.update(advance=1 if target else 0, completed=None if target else min(
                time.time() - t_start, budget.seconds or 0))
    return study, notes
