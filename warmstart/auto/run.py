"""``warmstart.auto``: the best model warmstart can find for a task within a budget, explained.

1. Candidate sources (given checkpoints, source tasks, and those recorded in the
   knowledge base) are ranked without training (LogME, LEEP; see
   :mod:`warmstart.auto.sources`); the best few enter the search.
2. With a prior (:mod:`warmstart.knowledge.prior`, chosen by ``prior``): every strategy that
   can run on the task enters the search, NAS candidates around the source included, and the
   prior's cost-aware picks are the first trials, each with its predicted score and why
   (:mod:`warmstart.auto.prior_plan`). Without one, the situation (labels per class,
   unlabelled pool, measured domain gap) picks the strategies worth trying by hand-written
   rules (:mod:`warmstart.auto.situation`), and the notes say which of the two was used.
3. One Optuna study searches source × strategy × architecture × hyperparameters, warm-started
   (the prior's picks, then similar past tasks), with pruning, within the budget
   (:mod:`warmstart.auto.search`); every trial is a Recipe run by
   :func:`warmstart.recipe.run_recipe` and scored by the one few-shot protocol
   (:mod:`warmstart.validation`). With a prior and a time budget the search runs no trial with one
   label per class, since leave-one-out then cannot rank recipes, nor without labels when a second
   pick would cut the first one's final fit short: every trial's seconds would come out of the final
   fit, and the prior's first pick is the winner (:func:`warmstart.auto.cost_stop.search_pays`). On a table
   whose source brings held-out labels of the same classes, where a two-sample test finds no shift between the
   source's inputs and the target's, no search runs either: each strategy in the prior's order is fitted on every
   label at its trials' and full lengths while the time lasts, and the source's held-out labels choose among the
   fits (:mod:`warmstart.auto.source_validation`).
4. The winner is the best validation score, or with a prior the best posterior mean of the
   validation score shrunk toward the prior's prediction (:mod:`warmstart.auto.choice`). It is
   retrained on all labelled data (``run_recipe`` with ``validation="none"``) at its strategy's
   full length when the time left allows, else at the longest length that fits, and where its strategy
   still gains past that length, for as long as the budget fits, up to a multiple of it
   (:mod:`warmstart.auto.final_fit`: the trials ran on a short budget to rank recipes), saved as a
   checkpoint, and evaluated on the test split (reporting only); everything is written to
   ``OUT/run.json`` and ``OUT/report.html`` and recorded in the knowledge base.

A time budget bounds the whole call, pretraining of sources and the final
retraining included (:mod:`warmstart.auto.clock`); a trial budget bounds the
number of trials. The result says how the winner was chosen and where the time went.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

import optuna
import torch
from optuna.trial import TrialState
from sklearn.metrics import confusion_matrix

from warmstart._atomic import write_text_atomic
from warmstart.auto.choice import annotate, choose, no_search, selection
from warmstart.auto.clock import Clock
from warmstart.auto.cost_stop import search_pays
from warmstart.auto.final_fit import FinalFit, final_fit, longer
from warmstart.auto.pretrain import pretrain_sources
from warmstart.auto.prior_plan import PriorPlan, plan_with_prior, resolve_prior
from warmstart.auto.search import KIND, is_queued, run_search, validation_protocol
from warmstart.auto.situation import Situation, choose_strategies
from warmstart.auto.source_validation import choose_by_source, source_check
from warmstart.auto.sources import kb_sources, rank_sources, record_sources
from warmstart.auto.winner import Winner, from_first_pick, from_trial
from warmstart.backbones.checkpoint import save_checkpoint
from warmstart.engine.callbacks import extra_callbacks
from warmstart.engine.horizon import DeadlineHorizon
from warmstart.errors import ConfigError
from warmstart.knowledge.metafeatures import meta_features
from warmstart.knowledge.prior import Prior
from warmstart.knowledge.records import task_key
from warmstart.knowledge.storage import open_storage
from warmstart.recipe import run_recipe
from warmstart.report import write_report
from warmstart.search.budget import Budget, DeadlineStop
from warmstart.source import Source
from warmstart.strategies import strategy_class
from warmstart.tasks import Task, load_task
from warmstart.tasks._task import n_items

MIN_SECONDS = 20.0
TOP_SOURCES = 2


def auto(task: str | Task, *, budget: str | int | Budget = "10m", sources: list[str | Path | Source] | None = None,
         source_tasks: list[str] | None = None, storage: Any = None, shots: int | None = None, seed: int = 0,
         device: str = "auto", out: str | Path | None = None, strategies: list[str] | None = None,
         progress: bool = True, command: str | None = None,
         params: dict[str, Any] | None = None, ssl_source: bool = False,
         prior: str | Path | Prior | None = "auto") -> dict[str, Any]:
    """Find, retrain, save and explain the best transfer for ``task``.

    Args:
        task: Target task (name, data path or Task).
        budget: Trials (``20``: of the search only) or wall time (``"5m"``: of the whole call, pretraining
            sources and retraining the winner included; it may run over by about one epoch of training
            and the seconds it takes to write the outputs).
        sources: Source checkpoint folders, or :class:`~warmstart.source.Source` objects (a zoo
            model is imported first; a source's ``spec``, when set, is its name in the ranking,
            the trials, the recipe and the report).
        source_tasks: Source tasks (pretrained once and cached when no checkpoint is given for them;
            their data also enables domain adaptation and multi-task strategies).
        storage: Knowledge base (see :func:`warmstart.knowledge.open_storage`).
        shots: Few-shot protocol on the target (0: no labels, unlabelled pool only).
        seed: Seed for the support set, sources, samplers and training.
        device: Torch device.
        out: Run folder (model/, run.json, report.html); default ``runs/<task>-auto``.
        strategies: Restrict the strategies auto may consider.
        progress: Show progress bars.
        command: The command line to record for reproduction.
        params: Hyperparameters fixed for every strategy that has them (e.g. ``{"epochs": 5}``).
        ssl_source: Also pretrain and rank a SimCLR source on the target's own images (labels
            unused) plus the source tasks' images (:mod:`warmstart.auto.ssl_source`).
        prior: ``"auto"`` (the user's prior, else the shipped one, else the hand-written rules),
            ``"none"`` (the rules), a prior file, or a :class:`~warmstart.knowledge.prior.Prior`.

    Returns:
        The result dict the CLI prints (also saved as ``OUT/run.json``); ``prior`` is None when
        the rules chose the strategies, else the prior's description and picks; with a prior,
        ``selection`` and ``trials`` carry each completed trial's validation score, the prior's
        predicted score and the posterior mean; ``selection["by"]`` is ``prior`` when no search ran (the
        prior's first pick was fitted), and ``trials`` is then empty.

    Raises:
        ConfigError: a budget too small, no usable source, unknown strategies.
        DataError: a prior file that is missing or not a warmstart prior.
    """
    b = Budget.parse(budget)
    clock = Clock(b.seconds)
    if b.seconds is not None and b.seconds < MIN_SECONDS:
        raise ConfigError(f"budget {budget!r} is too small for auto: one trial needs seconds to minutes; "
                          f"give at least {MIN_SECONDS:g}s")
    with clock.phase("setup"):
        for s in strategies or []:
            strategy_class(s)
        the_prior, prior_note = resolve_prior(prior)
        target = load_task(task) if not isinstance(task, Task) else task
        if shots is not None:
            target = target.few_shot(shots, seed=seed)
        st = open_storage(storage)
        out = Path(out) if out is not None else Path("runs") / f"{target.name}-auto"
        candidates = _candidates(sources or [], source_tasks or [], seed, device)
    pre_notes = pretrain_sources(candidates, clock, progress)
    if ssl_source:
        from warmstart.auto.ssl_source import ssl_candidate

        task_srcs = [s.task() for _, s in candidates if s.task_name is not None]
        cand, note = ssl_candidate(target, task_srcs, clock, seed=seed, device=device, progress=progress)
        pre_notes.append(note)
        if cand is not None:
            candidates.append(cand)
    with clock.phase("ranking"):
        known = {name for name, _ in candidates}
        candidates += [(n, s) for n, s in kb_sources(st) if n not in known]
        ranked = rank_sources(target, candidates)
    top = ranked[:TOP_SOURCES]
    src_tasks = [r for r in top if r.source.task_name is not None]
    key = task_key(target.name, shots)
    with clock.phase("search"):
        meta = meta_features(target)
        sit, plan = _strategies(target, top, bool(src_tasks), strategies, the_prior, prior_note, meta, b, params)
        check, why_not = source_check(target, plan, top, clock, seed=seed)
        if check is not None:
            assert plan is not None  # source_check needs the prior's order
            study, notes = None, [*plan.notes]
        else:
            go = search_pays(plan, target, seed, seconds_left=clock.left(), overrides=params)
            study, notes = (run_search(target, top, sit.strategies, b, st, key, meta, seed=seed, device=device,
                                       progress=progress, overrides=params, clock=clock, prior=plan)
                            if go.run else (None, [*(plan.notes[:1] if plan is not None else []), go.note]))
    notes += [why_not] if why_not else []
    choice, by_source = None, None
    if study is None:
        assert plan is not None  # search_pays searches without a prior
        win = from_first_pick(plan, top, params)
        if check is not None:
            with clock.phase("source validation"):
                by_source, why_not = choose_by_source(target, plan, check, win, top, params, clock, seed=seed,
                                                      device=device, progress=progress)
            notes += [why_not] if why_not else []
    else:
        _check_completed(study, b, clock)
        choice = choose(study, plan, target, seed, overrides=params, seconds_left=clock.left())
        win = from_trial(choice.trial, top, params)
    if by_source is not None:
        notes += by_source.notes
        fit = by_source.fit
        win, retrained = fit.winner, by_source.result
        trial_params, win_params = win.params, fit.params
        final_plan = FinalFit(fit.params, fit.length, fit.work_ratio, None, by_source.notes[0])
    else:
        retrained, final_plan = _retrain(target, win, plan, params, clock, b, notes, seed=seed, device=device,
                                         progress=progress)
        trial_params, win_params = win.params, final_plan.params
    final = retrained.strategy
    with clock.phase("finish"):
        test = retrained.test or final.evaluate(target, "test")  # reporting only
        pred = final.predict(target.x_test)
        cm = confusion_matrix(target.y_test.numpy(), pred.numpy(), labels=list(range(target.n_classes))).tolist()
        model_dir = out / "model"
        saved = None
        if hasattr(final.model_, "backbone"):
            save_checkpoint(final.model_, model_dir, classes=target.classes, source_task=target.name,
                            metrics={"test": test}, extra={"strategy": win.strategy, "params": win_params,
                                                           "source": win.source.name, "auto": True,
                                                           **({"ensemble": by_source.describe()} if by_source else {})})
            saved = str(model_dir)
        record_sources(st, ranked)
        result = _result(target, b, seed, shots, ranked, sit, study, pre_notes + notes, win, win_params,
                         final, test, cm, saved, command)
        protocol = validation_protocol(target, seed)
        if choice is not None:
            annotate(result["trials"], choice)
            result["selection"] = selection(result["trials"], protocol, choice)
        else:
            result["selection"] = no_search(protocol, str(why_not if check is not None else go.note))
        if by_source is not None:
            result["selection"] = by_source.selection(protocol)
            result["source_validation"] = by_source.to_json()
            if len(by_source.members) > 1:  # the model is no single fit: say so wherever the winner is named
                result["winner"]["label"] = f"ensemble of {by_source.names()} from {win.source.name}"
                result["winner"]["ensemble"] = by_source.describe()
        result["prior"] = plan.to_json() if plan is not None else None
        result["winner"].update({k: v for r in result["trials"] if r["number"] == win.number
                                 for k, v in r.items() if k in ("predicted", "posterior")})
        if win.architecture is not None:
            result["winner"]["architecture"] = win.architecture
        fit_seconds = clock.phases.get("retrain", by_source.fit.seconds if by_source else None)
        result["winner"]["final_fit"] = {"length": final_plan.length, "work_ratio": round(final_plan.work_ratio, 2),
                                         "predicted_seconds": final_plan.predicted_seconds, "seconds": fit_seconds,
                                         "trial_params": trial_params}
        out.mkdir(parents=True, exist_ok=True)
        result["report"] = str(out / "report.html")
    result["time"] = clock.to_json()  # up to writing run.json and the report
    result["search_seconds"], result["total_seconds"] = clock.phases.get("search", 0.0), result["time"]["total"]
    write_text_atomic(out / "run.json", json.dumps(result, indent=2, default=str))
    write_report(result, out / "report.html")
    return result


def _retrain(target: Task, win: Winner, plan: PriorPlan | None, params: dict[str, Any] | None, clock: Clock,
             b: Budget, notes: list[str], *, seed: int, device: str, progress: bool) -> tuple[Any, FinalFit]:
    """Retrain the winner on every label at the length :mod:`warmstart.auto.final_fit` plans (appending to
    ``notes`` what happened to its schedule); the run's result and the plan."""
    end = clock.retrain_deadline()
    gain = None if plan is None else plan.prior.raw_length_gain(win.strategy, int(target.shots or 0), target.modality)
    n_labelled = n_items(target.x_train)
    final_plan = longer(final_fit(win.strategy, win.params, params, n_labelled, win.fit_seconds,
                                  None if end is None else clock.left(), gain, win.train_seconds),
                        win.strategy, n_labelled, end is not None)
    notes.append(final_plan.note)
    recipe = win.recipe(final_plan.params, seed)
    # the final fit trains up to the deadline (no epoch is left unstarted: a stop at the step keeps the last
    # weights unless the strategy selects an epoch by a score), its schedule shortened to the steps that fit
    stop = DeadlineStop(end, f"the {b} budget", whole_epochs=False) if end is not None else None
    horizon = DeadlineHorizon(end, keep_share=final_plan.keep_share) if end is not None else None
    with clock.phase("retrain"), extra_callbacks(*[c for c in (stop, horizon) if c is not None]):
        retrained = run_recipe(target, recipe, validation="none", source=win.source.source, device=device,
                               progress=progress)  # a final fit on every label; test metrics for reporting
    if horizon is not None and horizon.shortened_to is not None:
        notes.append(f"the retraining of the winner was projected not to finish in the budget: its schedule was "
                     f"shortened to the {horizon.shortened_to} of its {horizon.planned} steps that fit")
    if stop is not None and stop.stopped_after is not None:
        notes.append(f"the budget stopped the retraining of the winner at step {stop.stopped_at_step}, in epoch "
                     f"{stop.stopped_after + 1} of {stop.total_epochs}")
    return retrained, final_plan


def _check_completed(study: optuna.Study, b: Budget, clock: Clock) -> None:
    """Raise ConfigError when the search ended before any trial completed, saying why."""
    if any(t.state == TrialState.COMPLETE for t in study.get_trials(deepcopy=False)):
        return
    reasons = sorted({str(t.user_attrs.get("fail_reason")) for t in study.trials if t.state == TrialState.FAIL})
    cut = [t for t in study.trials if t.user_attrs.get("stopped_by_budget")]
    spent = f" ({clock.phases.get('pretraining', 0):.0f} s of it pretraining sources)" if b.seconds else ""
    why = (f" (failures: {reasons[:2]})" if reasons else
           f" (the budget stopped {len(cut)} trial(s), the first one, {cut[0].params.get('strategy')}, after "
           f"{float(cut[0].user_attrs.get('wall_seconds', 0)):.0f} s); give a larger budget" if cut else
           "; give a larger budget")
    raise ConfigError(f"budget {b}{spent} ended before any trial completed{why}")


def _strategies(target: Task, top: list[Any], has_source_data: bool, allowed: list[str] | None,
                prior: Prior | None, prior_note: str | None, meta: dict[str, float], budget: Budget,
                params: dict[str, Any] | None) -> tuple[Situation, PriorPlan | None]:
    """The strategies of the search and why: the prior's applicable set and picks, else the hand-written rules.

    Raises:
        ConfigError: no strategy can run on the task.
    """
    sit = choose_strategies(target, has_source_data=has_source_data, gap=top[0].gap, allowed=allowed)
    plan = None
    if prior is not None:
        plan = plan_with_prior(prior, target, meta, top, labels_per_class=sit.labels_per_class,
                               has_source_data=has_source_data, budget=budget, allowed=allowed, overrides=params)
        used = (f"strategies and first trials from the prior ({prior.describe()}), not the hand-written rules: "
                f"every strategy that can run on the task ({', '.join(plan.strategies) or 'none'})")
        sit.strategies, sit.reasons = list(plan.strategies), [used, *plan.reasons]
    elif prior_note:
        sit.reasons.insert(0, prior_note)
    if not sit.strategies:
        raise ConfigError(f"no strategy fits task {target.name!r}: {'; '.join(sit.reasons)}")
    if plan is None and not has_source_data:
        sit.strategies = [s for s in sit.strategies if not strategy_class(s).needs_source_task] or ["finetune"]
    return sit, plan


def _candidates(sources: list[str | Path | Source], source_tasks: list[str], seed: int,
                device: str) -> list[tuple[str, Source]]:
    """Given checkpoints and source tasks; a checkpoint trained on a given source task carries its data too.

    A candidate is named by its source's ``spec`` when it has one (``timm:NAME with weights FILE``),
    else by its checkpoint folder.
    """
    from warmstart.backbones.checkpoint import read_meta

    tasks = list(dict.fromkeys(source_tasks))
    out: list[tuple[str, Source]] = []
    for given in sources:
        spec = None
        if isinstance(given, Source):
            spec = given.spec or (given.zoo_description() if given.zoo is not None else None)
            p: str | Path = given.checkpoint(progress=False).path if given.path is None else given.path
        else:
            p = given
        trained_on = read_meta(p).get("source_task")
        task_name = trained_on if trained_on in tasks else None
        if task_name is not None:
            tasks.remove(task_name)
        out.append((spec or str(p), Source(path=Path(p), task_name=task_name, seed=seed, device=device, spec=spec)))
    out += [(f"task:{t}", Source(task_name=t, seed=seed, device=device)) for t in tasks]
    return out


def _result(task: Task, budget: Budget, seed: int, shots: int | None, ranked: list[Any], sit: Any,
            study: optuna.Study | None, notes: list[str], win: Winner, params: dict[str, Any], final: Any,
            test: dict[str, float], cm: list[list[int]], saved: str | None, command: str | None) -> dict[str, Any]:
    """run.json's fields (the selection, the prior and the final fit are added by :func:`auto`)."""
    trials = []
    all_trials = study.trials if study is not None else []
    t0 = min((t.datetime_start.timestamp() for t in all_trials if t.datetime_start), default=0.0)
    for t in all_trials:
        if t.state not in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL):
            continue
        end = t.datetime_complete.timestamp() if t.datetime_complete else t0
        trials.append({"number": t.number, "state": t.state.name, "source": t.params.get("source"),
                       "strategy": t.params.get("strategy"), "value": t.value, "elapsed": end - t0,
                       "fail_reason": t.user_attrs.get("fail_reason"), "seconds": t.user_attrs.get("wall_seconds"),
                       "stopped_by_budget": bool(t.user_attrs.get("stopped_by_budget")),
                       **({"pruned_by": t.user_attrs["pruned_by"]} if t.user_attrs.get("pruned_by") else {})})
    per: dict[str, dict[str, Any]] = {}
    for row in trials:
        s = per.setdefault(str(row["strategy"]), {"strategy": row["strategy"], "trials": 0, "best": None})
        s["trials"] += 1
        if row["value"] is not None and row["state"] == "COMPLETE":
            s["best"] = row["value"] if s["best"] is None else max(s["best"], row["value"])
    h = getattr(final, "history_", None)
    hist = getattr(h, "epochs", None) or (h.get("epochs", []) if isinstance(h, dict) else [])
    warm = [t for t in all_trials if is_queued(t)]
    return {
        "title": f"warmstart auto on {task.name}", "task": task.name, "budget": str(budget), "seed": seed,
        "shots": shots, "command": command or " ".join(shlex.quote(a) for a in sys.argv),
        "versions": {"torch": torch.__version__},
        "sources": [r.to_json() for r in ranked], "situation": sit.to_json(),
        "notes": sit.reasons + notes, "strategies": sorted(per.values(), key=lambda s: -(s["best"] or -1e9)),
        "trials": trials, "warm_started_trials": len(warm),
        "winner": {"label": f"{win.strategy} from {win.source.name}", "strategy": win.strategy,
                   "source": win.source.name, "params": params, "validation": win.validation, "test": test,
                   "history": hist, "confusion": cm, "classes": task.classes, "info": getattr(final, "info_", {})},
        "model": saved, "kind": KIND,
    }

