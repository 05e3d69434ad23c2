"""The joint search of auto: source × strategy × hyperparameters in one Optuna study.

Each trial picks a source (among the best-ranked), a strategy (among those the
situation allows) and that strategy's hyperparameters (conditional parameters
named ``STRATEGY.PARAM``). That is one :class:`~warmstart.recipe.Recipe`, run by
:func:`warmstart.recipe.run_recipe` with ``validation="auto"`` — the one few-shot
protocol of :mod:`warmstart.validation` (labelled validation split, stratified
k-fold or leave-one-out on the support set, or a label-free score of the unlabelled
pool with no target labels) — whose first fold feeds Optuna's pruner every epoch;
the result is recorded like every finished trial
(:func:`warmstart.knowledge.trials.record_result`). The trials run in the study
driver (:func:`warmstart.search.driver.drive`): the search stops with an error after
5 failed trials in a row.

Warm start (Feurer et al. 2015): before the first trial, the best
configurations of the most similar past tasks' auto studies in the knowledge
base are enqueued, where their source and strategy are among today's choices;
with no similar past task, the defaults of the first three strategies are. With a prior
(:mod:`warmstart.auto.prior_plan`) the prior's picks come first instead, the similar past tasks'
configurations after them, and TPE starts right after the queued trials, fitted on them; its
gray-box model may stop a trial from its first epochs (:mod:`warmstart.auto.prior_pruner`). When
the budget ends before every queued trial ran, a note says how many ran and why.

With a time budget the :class:`~warmstart.auto.clock.Clock` decides whether a
trial may start and when a running one is pruned (see :mod:`warmstart.auto.clock`); with a
prior that has length gains, a trial that fits starts only when it is expected to add more to
the returned model than its seconds take from the winner's final fit
(:mod:`warmstart.auto.cost_stop`), and a note says why the search stopped.
"""

from __future__ import annotations

import statistics
import time
import warnings
from typing import TYPE_CHECKING, Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.trial import FrozenTrial, TrialState

from warmstart.auto.arch import ARCH, NAS, split_params
from warmstart.auto.clock import Clock
from warmstart.auto.final_fit import FINAL_SHARE, trial_fit_seconds
from warmstart.auto.sources import RankedSource
from warmstart.engine.callbacks import extra_callbacks
from warmstart.errors import ConfigError, WarmstartError
from warmstart.knowledge.records import ATTR, list_records, make_record_attr, study_name
from warmstart.knowledge.similarity import rank_similar
from warmstart.knowledge.trials import record_recipe, record_result
from warmstart.recipe import Recipe, run_recipe
from warmstart.search.budget import Budget, DeadlinePrune, counted_trials
from warmstart.search.driver import drive
from warmstart.search.space import search_space, suggest
from warmstart.source import Source
from warmstart.strategies import strategy_class
from warmstart.tasks._task import Task, n_items
from warmstart.validation import plan_validation

if TYPE_CHECKING:
    from warmstart.auto.prior_plan import PriorPlan

KIND = "auto"
#: failed trials in a row after which auto stops with an error
MAX_FAILURES = 5


def fixed_params(strategy: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Settings fixed for every trial of ``strategy``: its trial budget
    (:mod:`warmstart.auto.trial_budget`), then the user's overrides."""
    from warmstart.auto.trial_budget import trial_budget
    from warmstart.strategies import strategy_class

    table = strategy_class(strategy).param_table()
    fixed = trial_budget(strategy)
    fixed.update({k: v for k, v in (overrides or {}).items() if k in table})
    return fixed


def strategy_space(strategy: str, overrides: dict[str, Any] | None = None,
                   archs: list[str] | None = None) -> dict[str, BaseDistribution]:
    """The parameters of one strategy in the joint space, named ``STRATEGY.PARAM``.

    ``nas_candidate`` with ``archs`` (JSON texts, :mod:`warmstart.auto.arch`) also searches its
    architecture, ``nas_candidate.arch``.

    Raises:
        ConfigError: the strategy has nothing to search (after the fixed settings).
    """
    fixed = fixed_params(strategy, overrides)
    if strategy == NAS and archs:
        try:
            space = search_space(strategy, fixed)
        except ConfigError:  # every hyperparameter fixed: the architecture is still searched
            space = {}
        space[ARCH] = CategoricalDistribution(archs)
    else:
        space = search_space(strategy, fixed)
    return {f"{strategy}.{k}": d for k, d in space.items()}


def joint_space(strategies: list[str], sources: list[RankedSource], overrides: dict[str, Any] | None = None,
                archs: list[str] | None = None) -> dict[str, BaseDistribution]:
    """Every parameter of the joint space (for the knowledge-base record)."""
    space: dict[str, BaseDistribution] = {
        "source": CategoricalDistribution([s.name for s in sources]),
        "strategy": CategoricalDistribution(strategies),
    }
    for s in strategies:
        space.update(strategy_space(s, overrides, archs))
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


def validation_protocol(task: Task, seed: int = 0) -> str:
    """How auto's trials are scored on ``task``, in words (for the notes and the report)."""
    try:
        plan = plan_validation(task, "auto", seed=seed)
    except ConfigError as exc:
        return f"no validation protocol fits this task ({exc})"
    if plan.kind == "split":
        return f"accuracy on the {plan.description}"
    if plan.kind in ("kfold", "loo"):
        return f"mean accuracy of {plan.description}"
    return f"{plan.description} (no target labels)"


def recipe_source(src: Source) -> tuple[str | None, str | None]:
    """(checkpoint folder, source task) of a candidate source, as a Recipe names them."""
    return (str(src.path) if src.path is not None else None), src.task_name


def is_queued(trial: FrozenTrial) -> bool:
    """Whether the trial ran a queued recipe (a prior pick or a past task's configuration), not one the search drew."""
    return trial.system_attrs.get("fixed_params") is not None


def queued_note(study: optuna.Study, first: int, queued: int, budget: Budget, clock: Clock | None,
                what: str) -> str | None:
    """Why fewer than the ``queued`` trials promised by the notes ran (None when they all ran).

    ``first`` is the number of the study's first trial in this run; ``what`` names the queued
    trials (e.g. "promised default trials").
    """
    mine = [t for t in study.get_trials(deepcopy=False) if t.number >= first]
    ran = [t for t in mine if is_queued(t)
           and t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
           and not t.user_attrs.get("stopped_by_budget")]
    if queued <= 0 or len(ran) >= queued:
        return None
    secs = [float(t.user_attrs["wall_seconds"]) for t in mine if "wall_seconds" in t.user_attrs]
    trial = f"trial time {max(secs):.0f} s" if secs else "no trial finished"
    if budget.seconds is not None:
        spent = f", of which {clock.phases.get('pretraining', 0.0):.0f} s pretraining" if clock else ""
        why = f"{trial}, budget {budget.seconds:g} s{spent}"
    else:
        why = f"budget {budget}"
    return f"budget allowed {len(ran)} of the {queued} {what}: {why}"


def _first_trials(study: optuna.Study, storage: Any, key: str, meta: dict[str, float],
                  space: dict[str, BaseDistribution], strategies: list[str], sources: list[RankedSource],
                  overrides: dict[str, Any] | None, prior: PriorPlan | None) -> tuple[int, str, list[str]]:
    """Queue the first trials of a new study: (how many, what they are called in the notes, notes).

    With the prior's picks: the picks, then the similar past tasks' configurations; without:
    the similar past tasks' configurations, else the defaults of the first three strategies.
    """
    configs, notes = warm_configs(storage, key, meta, space)
    if prior is not None and prior.configs:
        kb = [(c, n) for c, n in zip(configs, notes, strict=True) if c not in prior.configs]
        same = len(configs) - len(kb)
        notes = [*prior.notes, *(n for _, n in kb)]
        notes += [f"{same} best configuration(s) of similar past tasks already among the prior's picks"] if same else []
        configs = [*prior.configs, *(c for c, _ in kb)]
        what = "queued picks of the prior" + (" and of similar past tasks" if kb else "")
    elif not configs:
        configs = default_configs(strategies, sources, overrides)
        notes.append(f"no similar past task in the knowledge base: the first trials are the defaults "
                     f"(chosen on other tasks) of {', '.join(c['strategy'] for c in configs)}")
        what = "promised default trials"
    else:
        what = "queued trials of similar past tasks"
    if prior is not None and not prior.configs:  # the prior knows none of the strategies: say so first
        notes = [*prior.notes, *notes]
    for cfg in configs:
        study.enqueue_trial(cfg, skip_if_exists=True)
    study.set_user_attr("warm_start_enqueued", len(configs))
    return len(configs), what, notes


def run_search(task: Task, sources: list[RankedSource], strategies: list[str], budget: Budget, storage: Any,
               key: str, meta: dict[str, float], *, seed: int = 0, device: str = "auto",
               progress: bool = True, overrides: dict[str, Any] | None = None,
               clock: Clock | None = None, prior: PriorPlan | None = None) -> tuple[optuna.Study, list[str]]:
    """Run (or continue) the auto study for ``task`` until the budget is spent; return it and notes.

    ``overrides`` fixes hyperparameters (e.g. ``{"epochs": 5}``) for every strategy that has them.
    With a time budget, ``clock`` (default: one started now) bounds the search so that the winner's
    retraining still fits; trials it cuts short end PRUNED with user attribute ``stopped_by_budget``.
    Each finished trial carries ``wall_seconds`` and, when completed, ``fit_seconds`` (one training,
    predicted on all labelled data: under k-fold cross-validation a fold's time times k/(k-1)).

    ``prior`` (the prior's plan, :func:`warmstart.auto.prior_plan.plan_with_prior`) makes the
    prior's picks the first trials of a new study (the similar past tasks' configurations after
    them), starts TPE right after the queued trials, adds ``nas_candidate.arch`` to the space
    when the plan has architectures, and lets the prior's gray-box model prune trials
    (:class:`~warmstart.auto.prior_pruner.PriorPruner`; user attribute ``pruned_by``).
    """
    from warmstart.engine.progress import progress_bar

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    archs = prior.archs if prior is not None else None
    space = joint_space(strategies, sources, overrides, archs)
    name = study_name(key, KIND)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True)
    pruner: optuna.pruners.BasePruner = optuna.pruners.HyperbandPruner(min_resource=1)
    if prior is not None and prior.prior.has_gray_box:
        from warmstart.auto.prior_pruner import PriorPruner

        pruner = PriorPruner(prior.prior, prior.situation, prior.sources, pruner)
    study = optuna.create_study(study_name=name, storage=storage, direction="maximize", load_if_exists=True,
                                sampler=sampler, pruner=pruner)
    study.set_user_attr(ATTR, make_record_attr(key, KIND, meta, {"n_classes": task.n_classes}, space,
                                               strategy="auto", shots=task.shots))
    notes: list[str] = []
    queued, what = 0, "queued trials"
    first = len(study.get_trials(deepcopy=False))
    if not first:
        queued, what, notes = _first_trials(study, storage, key, meta, space, strategies, sources, overrides, prior)
    elif prior is not None and prior.configs:
        notes.append(f"the study already has {first} trial(s): the prior's picks were not queued again")
    if prior is not None:
        with warnings.catch_warnings():  # TPE fitted on the queued trials from the first trial after them
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True,
                                                       n_startup_trials=max(1, queued or len(prior.configs)))
    by_name = {s.name: s for s in sources}
    clock = clock or Clock(budget.seconds)
    deadline: list[float | None] = [None]  # when the running trial must be over (set before each trial)
    retrain: list[float | None] = [None]  # seconds kept for the final fit of the incumbent
    cap_s: list[float | None] = [None]  # the most seconds kept for a final fit (a share of the budget)
    n_labelled = n_items(task.x_train)
    started = [0.0]
    spent: list[float] = []  # wall seconds of each trial not cut by the budget (sampling incl.): the longest and mean
    stopped: list[str] = []  # why the cost-aware stop ended the search

    def keep_time_for_the_incumbent() -> None:
        """Reserve the final fit of the trial auto would choose now with the most time it may keep for it (the
        final choice's posterior, length gains and one-SE rule, at the seconds kept), so more trials never eat
        the time the chosen recipe's full length needs, and no time is kept for a recipe the final choice
        would then pass over."""
        from warmstart.auto.choice import incumbent_final_fit

        left = clock.left()
        if cap_s[0] is None and left is not None:
            cap_s[0] = FINAL_SHARE * left
        kept = None if left is None or cap_s[0] is None else min(cap_s[0], left)
        incumbent = incumbent_final_fit(study, prior, task, seed, overrides=overrides, seconds_left=kept)
        if incumbent is None:
            return
        fit = float(incumbent[0].user_attrs.get("fit_seconds") or 0.0)
        retrain[0] = max(fit, min(incumbent[1].predicted_seconds or fit, cap_s[0] if cap_s[0] is not None else fit))

    def objective(trial: optuna.Trial) -> float:
        t_in = time.perf_counter()
        try:
            return _objective(trial)
        finally:
            trial.set_user_attr("wall_seconds", time.perf_counter() - t_in)

    def _objective(trial: optuna.Trial) -> float:
        src_name = trial.suggest_categorical("source", [s.name for s in sources])
        strat_name = str(trial.suggest_categorical("strategy", strategies))
        fixed = fixed_params(strat_name, overrides)
        params, arch = split_params(strat_name, suggest(trial, strategy_space(strat_name, overrides, archs)))
        params.update(fixed)
        src = by_name[str(src_name)].source
        if strategy_class(strat_name).needs_source_task and src.task_name is None:
            # the objective stays a function of (source, strategy): the best-ranked source with data stands in
            alt = next((s for s in sources if s.source.task_name is not None), None)
            if alt is None:
                raise optuna.TrialPruned(f"{strat_name} needs source data and no source has any")
            src = alt.source
            trial.set_user_attr("source_used", alt.name)
        path, source_task = recipe_source(src)
        recipe = Recipe(strat_name, params, source=path, source_task=source_task, source_spec=src.spec, seed=seed,
                        architecture=arch)
        record_recipe(trial, recipe)
        stop = DeadlinePrune(deadline[0], f"the {budget} budget") if deadline[0] is not None else None
        try:
            with extra_callbacks(*([stop] if stop is not None else [])):
                result = run_recipe(task, recipe, validation="auto", trial=trial, source=src, device=device,
                                    keep_model=False)
        except optuna.TrialPruned:
            if stop is not None and stop.stopped_after is not None:
                trial.set_user_attr("stopped_by_budget", True)
            raise
        record_result(trial, result)
        if result.score is None:
            raise WarmstartError(f"{strat_name}: the trial was not scored ({result.validation_detail})")
        fit, train = trial_fit_seconds(result, strat_name, params, n_labelled)
        trial.set_user_attr("fit_seconds", fit)
        if train is not None:
            trial.set_user_attr("train_seconds", train)
        return float(result.score)

    def admit() -> bool:
        if budget.seconds is not None:
            deadline[0] = clock.trial_deadline(max(spent, default=None), retrain[0])
            if deadline[0] is None or not another_trial_pays():
                return False
        started[0] = time.perf_counter()
        return True

    def another_trial_pays() -> bool:
        """The cost-aware stop (:mod:`warmstart.auto.cost_stop`): whether the next trial is expected to add more
        than its seconds take from the winner's final fit."""
        from warmstart.auto.cost_stop import another_trial_pays as pays

        trial_s = statistics.fmean(spent) if spent else None
        verdict = pays(study, prior, task, seed, seconds_left=clock.left(), trial_seconds=trial_s, overrides=overrides)
        if not verdict.run:
            stopped.append(verdict.note)
        return verdict.run

    before = counted_trials(study)
    with progress_bar("auto search", budget.trials if budget.trials else budget.seconds, progress) as bar:
        t_start = time.time()

        def after(_study: optuna.Study, trial: FrozenTrial) -> None:
            # a trial the budget cut short says nothing of how long the others take (a cheaper
            # recipe may still fit): only trials that ran to their end set the longest and the mean
            if not trial.user_attrs.get("stopped_by_budget"):
                spent.append(time.perf_counter() - started[0])
            if trial.state == TrialState.COMPLETE and budget.seconds is not None:
                keep_time_for_the_incumbent()
            bar.update(advance=1 if budget.trials else 0, completed=None if budget.trials else min(
                time.time() - t_start, budget.seconds or 0))

        drive(study, objective, n_trials=None if budget.trials is None else before + budget.trials, admit=admit,
              catch=(WarmstartError, RuntimeError, ValueError), max_failures=MAX_FAILURES, callbacks=[after])
    note = None if stopped else queued_note(study, first, queued, budget, clock, what)  # the stop says why
    return study, notes + stopped + ([note] if note else [])
