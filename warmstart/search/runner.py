"""The study runner behind ``warmstart tune``: one Optuna study per (task, strategy) in the knowledge base.

* Each trial is one :class:`~warmstart.recipe.Recipe` (the strategy with the fixed
  hyperparameters and the trial's suggestions) run by :func:`warmstart.recipe.run_recipe`
  with ``validation="auto"`` — the few-shot protocol of :mod:`warmstart.validation` —
  and recorded in the knowledge base like every finished trial
  (:func:`warmstart.knowledge.trials.record_result`); test metrics are kept apart.
* The trial loop is the study driver (:func:`warmstart.search.driver.drive`): budget
  (trials, COMPLETE + PRUNED of all workers, or wall time) without overshoot, pruning
  (Optuna's Hyperband by default, or successive halving, over the per-epoch validation
  scores), failed trials recorded as FAIL with a ``fail_reason`` while the search goes
  on, killed workers' trials failed and re-queued, ``--trial-timeout``.
* Warm starts come from the sampler registry (:func:`warmstart.search.samplers.build_sampler`,
  family ``warm``), fed with similar past studies of the knowledge base.
* Resumable: the study is loaded if it exists, so the same command continues it.
* Parallel: ``jobs`` worker processes (spawned, one torch thread each by default)
  share the storage; other machines join by running the same command with the same
  storage URL (Optuna's distributed model).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.trial import TrialState

from warmstart.errors import ConfigError, SearchFailedError, StorageError, UnknownNameError, WarmstartError
from warmstart.knowledge.metafeatures import meta_features, task_description
from warmstart.knowledge.records import ATTR, make_record_attr, study_name, task_key
from warmstart.knowledge.storage import open_storage, storage_url
from warmstart.knowledge.trials import record_recipe, record_result
from warmstart.recipe import METRICS, Recipe, run_recipe
from warmstart.search.budget import Budget, BudgetTracker, counted_trials
from warmstart.search.driver import PRUNERS, drive, make_pruner  # noqa: F401 (PRUNERS re-exported)
from warmstart.search.faults import supervise
from warmstart.search.space import search_space, suggest
from warmstart.search.warm import WARM_STARTS, WarmStart, make_warm_start, sources_from_kb
from warmstart.source import Source
from warmstart.strategies import strategy_class
from warmstart.tasks import Task, load_task
from warmstart.validation import plan_validation

#: exit code of a worker process whose trials kept failing (the parent raises SearchFailedError)
_EXIT_FAILED = 3


@dataclass
class TuneSpec:
    """Everything a worker needs (picklable: sent to spawned worker processes)."""

    task: str | Task
    strategy: str
    budget: Budget
    warm_start: str
    storage: str | None
    shots: int | None = None
    seed: int = 0
    params: dict[str, Any] = field(default_factory=dict)
    source: str | None = None
    source_task: str | None = None
    source_spec: str | None = None
    metric: str = "val_accuracy"
    pruner: str = "hyperband"
    device: str = "auto"
    artifacts: str | None = None
    threads: int | None = None
    deadline: float | None = None
    trial_timeout: float | None = None
    track: str | None = None


def _target(spec: TuneSpec) -> Task:
    task = load_task(spec.task) if not isinstance(spec.task, Task) else spec.task
    return task.few_shot(spec.shots, seed=spec.seed) if spec.shots is not None else task


def _names(spec: TuneSpec, task: Task) -> tuple[str, str]:
    key = task_key(task.name, spec.shots)
    return key, f"tune:{spec.strategy}"


def _open(spec: TuneSpec, storage: BaseStorage | None) -> BaseStorage:
    return storage if storage is not None else open_storage(spec.storage)


def warm_start(name: str, storage: BaseStorage, kind: str, key: str, task: Task,
               space: dict[str, Any], seed: int | None) -> WarmStart:
    """The warm start ``name`` (``auto`` resolved) built by the sampler registry from similar past studies.

    Raises:
        UnknownNameError: an unknown warm start.
    """
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        sources = sources_from_kb(storage, kind, key, meta_features(task), space) if name != "none" else []
    return make_warm_start(name, sources, space, seed=seed)


def _recipe(spec: TuneSpec, params: dict[str, Any]) -> Recipe:
    """The recipe of one trial (the task is already cut to its shots, so ``shots`` stays None)."""
    return Recipe(spec.strategy, {**spec.params, **params}, source=spec.source, source_task=spec.source_task,
                  source_spec=spec.source_spec, shots=None, seed=spec.seed)


def _worker(spec: TuneSpec, index: int, storage: BaseStorage | None = None) -> None:
    """Run trials until the budget is spent (one worker)."""
    if spec.threads is not None:
        from warmstart.engine.device import configure_threads

        configure_threads(spec.threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    st = _open(spec, storage)
    task = _target(spec)
    key, kind = _names(spec, task)
    space = search_space(spec.strategy, spec.params)
    ws = warm_start(spec.warm_start, st, kind, key, task, space, spec.seed + index)
    study = optuna.load_study(study_name=study_name(key, kind), storage=st, sampler=ws.sampler,
                              pruner=make_pruner(spec.pruner))
    src = _source(spec)
    tracker = BudgetTracker(spec.budget, deadline=spec.deadline)
    store = None
    if spec.artifacts is not None:
        from warmstart.knowledge.artifacts import artifact_store

        store = artifact_store(spec.artifacts)

    def objective(trial: optuna.Trial) -> float:
        recipe = _recipe(spec, suggest(trial, space))
        record_recipe(trial, recipe)
        result = run_recipe(task, recipe, validation="auto", trial=trial, source=src, metric=spec.metric,
                            device=spec.device, keep_model=store is not None)
        record_result(trial, result)
        if store is not None and result.model is not None:
            save_model_artifact(store, trial, result.model, task, dict(recipe.params))
        assert result.score is not None  # validation "auto" always scores
        return result.score

    callbacks: list[Any] = []
    if spec.track is not None:
        from warmstart.engine.tracking import study_callbacks

        callbacks = study_callbacks(spec.track, run_name=study.study_name)
    drive(study, objective, n_trials=spec.budget.trials, deadline=tracker.deadline,
          catch=(WarmstartError, RuntimeError, ValueError), trial_timeout=spec.trial_timeout, callbacks=callbacks)


def _source(spec: TuneSpec) -> Source | None:
    """The study's source (its ``spec`` the name the user gave it, when that is not its path)."""
    extra = {"spec": spec.source_spec} if spec.source_spec is not None else {}
    return Source.from_options(spec.source, spec.source_task, seed=spec.seed, device=spec.device, **extra)


def _spawned(spec: TuneSpec, index: int) -> None:  # pragma: no cover - runs in a child process
    os.environ.setdefault("WARMSTART_NO_PROGRESS", "1")
    try:
        _worker(spec, index)
    except SearchFailedError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        sys.exit(_EXIT_FAILED)


def save_model_artifact(store: Any, trial: optuna.Trial, model: Any, task: Task, params: dict[str, Any]) -> None:
    """Save the trial's model as a checkpoint artifact (see :mod:`warmstart.knowledge.artifacts`)."""
    from warmstart.backbones.checkpoint import save_checkpoint
    from warmstart.knowledge.artifacts import upload_checkpoint

    with tempfile.TemporaryDirectory() as tmp:
        path = save_checkpoint(model, f"{tmp}/trial-{trial.number}", classes=task.classes, source_task=task.name,
                               extra={"params": params, "trial": trial.number})
        upload_checkpoint(store, trial, path)


def prepare_study(spec: TuneSpec, storage: BaseStorage | None = None) -> tuple[optuna.Study, WarmStart]:
    """Create or load the study, record the task's meta-features, enqueue the warm start; return it.

    Raises:
        ConfigError: the task has too few labels to validate on (before any trial runs).
    """
    st = _open(spec, storage)
    task = _target(spec)
    plan_validation(task, "auto", seed=spec.seed)  # too few labels for validation: one clear error first
    key, kind = _names(spec, task)
    space = search_space(spec.strategy, spec.params)
    meta = meta_features(task)
    name = study_name(key, kind)
    study = optuna.create_study(study_name=name, storage=st, direction="maximize", load_if_exists=True)
    if ATTR not in study.user_attrs:
        study.set_user_attr(ATTR, make_record_attr(key, kind, meta, task_description(task), space,
                                                   strategy=spec.strategy, shots=spec.shots))
    ws = warm_start(spec.warm_start, st, kind, key, task, space, spec.seed)
    if ws.enqueue and not study.user_attrs.get("warm_start_enqueued") and not study.get_trials(deepcopy=False):
        for cfg in ws.enqueue:
            study.enqueue_trial(cfg, skip_if_exists=True)
        study.set_user_attr("warm_start_enqueued", ws.name)
    return study, ws


def tune(task: str | Task, strategy: str, *, budget: str | int | Budget = 20, warm_start: str = "auto",
         storage: str | Path | BaseStorage | None = None, jobs: int = 1, shots: int | None = None,
         seed: int = 0, params: dict[str, Any] | None = None, source: str | Path | Source | None = None,
         source_task: str | None = None, metric: str = "val_accuracy", pruner: str = "hyperband",
         device: str = "auto", artifacts: str | Path | None = None, threads: int | None = None,
         trial_timeout: float | None = None, track: str | None = None) -> dict[str, Any]:
    """Tune ``strategy``'s hyperparameters on ``task``, warm-started from the knowledge base.

    Args:
        task: Task name, data path or Task.
        strategy: Registered strategy name.
        budget: Trials (``50``) or wall time (``"10m"``) for the whole study, all workers together.
        warm_start: One of ``none``, ``topk``, ``box``, ``quantile``, ``cmaes``, ``auto``.
        storage: Knowledge base (see :func:`warmstart.knowledge.open_storage`).
        jobs: Worker processes on this machine (need a storage URL, not an in-memory object).
        shots: Few-shot protocol: labels per class; trials are validated on those labels only
            (:mod:`warmstart.validation`: stratified k-fold, or leave-one-out with 1-2 per class).
        seed: Seed of the support set, folds, training and samplers (worker i's sampler uses seed + i).
        params: Fixed hyperparameters (not tuned), e.g. ``{"epochs": 5}``.
        source, source_task: The transfer source (see :class:`warmstart.source.Source`): a checkpoint
            folder, a zoo name, or a Source (a zoo model is imported first; its ``spec``, when set,
            is how recipes and the result name it).
        metric: Validation metric to maximize (``val_accuracy``, ``val_macro_f1``, ``val_balanced_accuracy``).
        pruner: ``hyperband``, ``sha`` or ``none``.
        device: Torch device.
        artifacts: Artifact store (folder or ``s3://``) for every completed trial's model; None: none saved.
        threads: Torch threads per worker (default 1 when ``jobs > 1``).
        trial_timeout: Seconds one trial may run; a longer one is stopped and recorded as failed
            with the reason (see :mod:`warmstart.search.deadline`).
        track: ``mlflow`` or ``tensorboard``: log every trial (:mod:`warmstart.engine.tracking`); None: no tracking.

    Returns:
        A JSON-serializable summary: study, storage, warm start (and why), trial counts, best value,
        best params, best trial's test metrics (reporting only), notes, and the source as named
        (:meth:`~warmstart.source.Source.describe`; None without one).

    Raises:
        ConfigError, UnknownNameError, StorageError: bad options, names or storage.
        SearchFailedError: too many trials in a row failed (their reasons are in the message).
    """
    b = Budget.parse(budget)
    if warm_start not in WARM_STARTS:
        raise UnknownNameError("warm start", warm_start, WARM_STARTS)
    if jobs < 1:
        raise ConfigError(f"jobs must be >= 1, got {jobs}")
    if trial_timeout is not None and not (0 < trial_timeout < float("inf")):
        raise ConfigError(f"--trial-timeout must be a positive number of seconds, got {trial_timeout}")
    if metric not in METRICS:
        raise ConfigError(f"unknown metric {metric!r}; valid metrics: {', '.join(METRICS)}")
    if track is not None:
        from warmstart.engine.tracking import TRACKERS

        if track not in TRACKERS:
            raise ConfigError(f"unknown tracker {track!r}; valid trackers: {', '.join(TRACKERS)}")
    make_pruner(pruner)
    cls = strategy_class(strategy)
    fixed = dict(params or {})
    for k, v in fixed.items():  # validate early, with the valid range in the message
        if k not in cls.param_table():
            raise ConfigError(f"strategy {strategy!r} has no option {k!r}; valid options: "
                              f"{', '.join(sorted(cls.param_table()))}")
        fixed[k] = cls.param_table()[k].check(k, v)
    obj = storage if isinstance(storage, BaseStorage) else None
    url = None if obj is not None else storage_url(storage)  # type: ignore[arg-type]
    if jobs > 1 and obj is not None:
        raise ConfigError("--jobs > 1 needs a storage URL or file that worker processes can open")
    source_spec = None
    if isinstance(source, Source):  # workers rebuild it from the checkpoint folder it names
        source_task = source_task or source.task_name
        source_spec = source.spec or (source.zoo_description() if source.zoo is not None else None)
        source = (source.path if source.path is not None
                  else source.checkpoint(progress=False).path if source.has_checkpoint else None)
    spec = TuneSpec(task=task, strategy=strategy, budget=b, warm_start=warm_start, storage=url, shots=shots,
                    seed=seed, params=fixed, source=str(source) if source is not None else None,
                    source_task=source_task, source_spec=source_spec, metric=metric, pruner=pruner, device=device,
                    artifacts=str(artifacts) if artifacts is not None else None,
                    threads=threads if threads is not None else (1 if jobs > 1 else None),
                    deadline=time.time() + b.seconds if b.seconds is not None else None,
                    trial_timeout=trial_timeout, track=track)
    st = obj if obj is not None else open_storage(url)
    study, ws = prepare_study(spec, st)
    src = _source(spec)
    if src is not None and (cls.needs_source or src.path is None):
        src.checkpoint()  # pretrain/cache once, before the workers start
    before = counted_trials(study)
    t0 = time.perf_counter()
    if jobs == 1:
        _worker(spec, 0, st)
    else:
        ctx = mp.get_context("spawn")

        def start(i: int) -> Any:
            p = ctx.Process(target=_spawned, args=(spec, i), daemon=False)
            p.start()
            return p

        # watches the workers: one stuck past --trial-timeout is killed, its trial failed, a new one started
        bad = supervise(start, jobs, study, trial_timeout=trial_timeout,
                        finished=lambda: BudgetTracker(b, deadline=spec.deadline).exhausted(study))
        if bad and all(code == _EXIT_FAILED for code in bad):
            reasons = summarize(study, "", "", [], url, before, 0.0)["fail_reasons"]
            raise SearchFailedError(f"every worker stopped: too many trials in a row failed; reasons: "
                                    f"{'; '.join(reasons[:3])}")
        if bad:
            raise StorageError(f"{len(bad)} of {jobs} workers exited with codes {bad}; finished trials are kept "
                               "in the storage, run the same command again to continue")
    out = summarize(study, ws.name, ws.description, ws.notes, url, before, time.perf_counter() - t0)
    out["source"] = None if src is None else src.describe()
    return out


def summarize(study: optuna.Study, warm: str, why: str, notes: list[str], url: str | None, before: int,
              seconds: float) -> dict[str, Any]:
    """The result dict of :func:`tune`."""
    trials = study.get_trials(deepcopy=False)
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    out: dict[str, Any] = {
        "study": study.study_name, "storage": url or "(object)", "warm_start": warm, "warm_start_reason": why,
        "notes": notes, "trials": {"counted": sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED)
                                              for t in trials),
                                   "new": counted_trials(study) - before,
                                   "complete": len(done),
                                   "pruned": sum(t.state == TrialState.PRUNED for t in trials),
                                   "failed": sum(t.state == TrialState.FAIL for t in trials)},
        "seconds": seconds, "best_value": None, "best_params": None, "best_trial": None, "test": None,
        "fail_reasons": sorted({str(t.user_attrs.get("fail_reason")) for t in trials
                                if t.state == TrialState.FAIL and t.user_attrs.get("fail_reason")})[:5],
    }
    if done:
        best = study.best_trial
        out.update(best_value=best.value, best_params=best.params, best_trial=best.number,
                   test=best.user_attrs.get("test"))
    return out
