"""Architecture search that starts from a pretrained model: the study behind ``warmstart search``.

max over architectures a of score(a; target validation) − λ·R(a): every search
strategy is an Optuna study over a :class:`~warmstart.search.nas_space.Space`,
its sampler built by name from :mod:`warmstart.search.samplers` (``random``,
``tpe``, ``evolution`` — regularized evolution, Real et al. 2019, whose children
inherit their parent trial's TRAINED weights, morphed into the child by Net2Net —,
``rl`` — REINFORCE, Zoph & Le 2017 — and ``nsga2`` — Deb et al. 2002, several
objectives, a Pareto front); ``darts`` (Liu et al. 2019) is a one-shot study
driver (:func:`warmstart.search.darts.run_darts`).

One path: a candidate is the Recipe ``nas_candidate`` (:mod:`warmstart.strategies.candidate`)
with the candidate spec as ``Recipe.architecture``, scored by
:func:`warmstart.recipe.run_recipe` under the few-shot protocol every search uses
(:mod:`warmstart.validation`) and recorded in the trial table like every trial
(:func:`warmstart.knowledge.trials.record_result`). The trials run through the one
study driver (:func:`warmstart.search.driver.drive`: budget, failures, liveness).

Baseline: before the candidates, the unchanged source architecture fine-tuned with a
pool-free strategy at its defaults (``baseline``, default ``l2sp``) is scored as one more
trial of the study by the same protocol, and it competes for the final choice: the final
model is the baseline unless a candidate beats it on validation (ties go to the baseline;
:mod:`warmstart.search._baseline`), so a search never ends below plain fine-tuning.

The study lives in the knowledge base (``storage``, default the user's KB), named
``<task key>|search:<strategy>`` (``...:scratch`` for the random-initialization study),
with the task's meta-features: running the same search again continues it (a trial
budget counts the study's candidates), and ``warmstart kb list`` shows it. Each
candidate's trained weights are an Optuna artifact (in ``run_dir/artifacts``, default
``<cache>/artifacts``).

Objectives: ``accuracy`` (the validation score) or ``loss`` (minus the validation NLL
of the first fold's model), then costs ``params`` (millions) and ``latency`` (ms,
measured). Single-objective strategies maximize the primary minus ``lam`` times the
costs; ``nsga2`` keeps them apart. The final model is then trained once more on every
label through ``run_recipe`` (validation ``none``): a winning candidate with a transfer
strategy (default ``finetune``) from its trained weights, or (``None``) as the candidate
itself; a winning baseline as its own recipe. That time is reported apart, outside the budget.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage

from warmstart.engine.callbacks import Callback, extra_callbacks
from warmstart.errors import ConfigError, TrainingDivergedError
from warmstart.knowledge.trials import record_recipe, record_result
from warmstart.recipe import Recipe, run_recipe
from warmstart.search.budget import Budget
from warmstart.search.evolution import parent_of
from warmstart.search.latency import count_parameters, measure_latency
from warmstart.search.nas_space import NASSpace, Space
from warmstart.source import Source
from warmstart.tasks import Task

STRATEGIES = ("random", "evolution", "tpe", "rl", "darts", "nsga2")
PRIMARY = {"accuracy": "val_accuracy", "error": "val_accuracy", "loss": "val_loss"}
COSTS = {"params": "params_m", "latency": "latency_ms"}


def parse_objectives(objective: str | list[str]) -> list[str]:
    """``"accuracy,latency"`` → ``["accuracy", "latency"]`` (validated: one primary first, then costs).

    Raises:
        ConfigError: unknown or repeated names, no primary first, or a cost given twice.
    """
    names = [s.strip() for s in (objective.split(",") if isinstance(objective, str) else objective) if s.strip()]
    valid = [*PRIMARY, *COSTS]
    if not names:
        raise ConfigError(f"objective is empty; give e.g. accuracy or accuracy,latency (valid: {', '.join(valid)})")
    for n in names:
        if n not in valid:
            raise ConfigError(f"unknown objective {n!r}; valid: {', '.join(valid)}")
    if names[0] not in PRIMARY or any(n in PRIMARY for n in names[1:]):
        raise ConfigError(f"objective {','.join(names)!r}: put exactly one of accuracy/loss first, then "
                          "costs (params, latency)")
    if len(set(names)) != len(names):
        raise ConfigError(f"objective {','.join(names)!r} repeats a name")
    return names


class OutOfBudget(Exception):
    """Raised inside a trial when the search's wall-time budget runs out."""


class _Deadline(Callback):
    def __init__(self, deadline: float | None) -> None:
        self.deadline = deadline

    def on_epoch_end(self, epoch: int, logs: dict[str, Any], model: Any) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise OutOfBudget


class CandidateObjective:
    """The objective of a NAS study: a space point → a ``nas_candidate`` Recipe → ``run_recipe`` → values.

    Args:
        task: The target task (already cut to its shots).
        source: The shared source.
        base: The source model adapted to the task (builds custom spaces' candidates).
        space: The architecture space.
        objectives: Parsed objectives (primary first).
        multi: Keep objectives apart (nsga2) instead of scalarizing with ``lam``.
        lam: λ of the scalarized objective.
        inherit: Candidates start from the source weights (and evolution children from their parents').
        evolution: Children of the evolution sampler inherit their parent trial's trained weights.
        params: The ``nas_candidate`` hyperparameters.
        seed: Seed of the recipe (few-shot folds and training).
        device: Torch device of training.
        artifacts: Folder of the study's artifact store (each trial's trained weights).
    """

    def __init__(self, task: Task, source: Source, base: Any, space: Space, objectives: list[str], *,
                 multi: bool, lam: float, inherit: bool, evolution: bool, params: dict[str, Any], seed: int,
                 device: str, artifacts: Path) -> None:
        from warmstart.knowledge.artifacts import artifact_store

        self.task, self.source, self.base, self.space = task, source, base, space
        self.objectives, self.multi, self.lam, self.inherit = objectives, multi, lam, inherit
        self.evolution, self.params, self.seed, self.device = evolution, params, seed, device
        self.artifacts = artifacts
        self.store = artifact_store(artifacts)
        self.deadline: float | None = None  # time.monotonic() at which a running trial is stopped

    def spec_of(self, arch: dict[str, Any]) -> dict[str, Any]:
        """The candidate spec of a space point (a custom space's build gives the structure)."""
        if isinstance(self.space, NASSpace):
            return self.space.resolve(arch)
        from warmstart.search._candidate import spec_of_model

        model: Any = self.space.build(arch, self.base, inherit=True, seed=0)
        return spec_of_model(model, int(self.space.resolve(arch).get("freeze", 0) or 0))

    def weights_file(self, trial: optuna.trial.FrozenTrial) -> Path | None:
        """Where a finished trial's trained weights are (None when it has none here)."""
        art = trial.user_attrs.get("artifact_id")
        path = self.artifacts / str(art) if art else None
        return path if path is not None and path.is_file() else None

    def __call__(self, trial: optuna.Trial) -> float | list[float]:
        arch = {k: trial.suggest_categorical(k, v) for k, v in self.space.choices.items()}
        if not self.space.allowed(arch):
            raise optuna.TrialPruned("architecture violates the space's constraint")
        spec = self.spec_of(arch)
        init: dict[str, Any] = {"seed": self.seed * 1000 + trial.number}
        parent = parent_of(trial) if self.evolution and self.inherit else None
        if parent is not None:
            ptrial = next(t for t in trial.study.get_trials(deepcopy=False) if t.number == parent)
            weights = self.weights_file(ptrial)
            if weights is not None and "candidate" in ptrial.user_attrs:
                init = {"seed": trial.number, "parent": {"trial": parent, "arch": ptrial.user_attrs["candidate"],
                                                         "weights": str(weights)}}
                trial.set_user_attr("parent", parent)
        return self.run(trial, {**spec, "init": init})

    def recipe(self, spec: dict[str, Any]) -> Recipe:
        """The ``nas_candidate`` recipe of a candidate spec."""
        return Recipe("nas_candidate", {**self.params, "inherit": self.inherit},
                      source=None if self.source.path is None else str(self.source.path),
                      source_task=self.source.task_name, source_spec=self.source.spec, architecture=spec,
                      shots=self.task.shots, seed=self.seed)

    def run(self, trial: optuna.Trial, spec: dict[str, Any]) -> float | list[float]:
        """Score the candidate ``spec`` as ``trial``: run its recipe, record it, keep its weights."""
        recipe = self.recipe(spec)
        record_recipe(trial, recipe)
        with extra_callbacks(_Deadline(self.deadline)):
            try:  # multi-objective trials cannot report to a pruner
                result = run_recipe(self.task, recipe, validation="auto", trial=None if self.multi else trial,
                                    source=self.source, device=self.device)
            except OutOfBudget:
                trial.set_user_attr("out_of_budget", True)
                raise optuna.TrialPruned("the search budget ran out during this trial") from None
        record_result(trial, result)
        metrics = self.metrics_of(result)
        for k, v in metrics.items():
            trial.set_user_attr(k, v)
        trial.set_user_attr("candidate", {k: v for k, v in spec.items() if k != "init"})
        trial.set_user_attr("init_probe", result.info.get("init_probe"))
        trial.set_user_attr("morph", result.info.get("morph"))
        self.save_weights(trial, result.model)
        return self.value_of(metrics)

    def metrics_of(self, result: Any) -> dict[str, float]:
        """A scored run's ``val_accuracy``, ``val_loss``, ``params_m`` and measured ``latency_ms``."""
        model = result.model
        val_loss = result.info.get("val_loss")  # nas_candidate reports its first fold's; others: computed here
        if val_loss is None:
            val_loss = self.first_fold_nll(result.strategy)
        return {"val_accuracy": float(result.score if result.score is not None else math.nan),
                "val_loss": float(val_loss), "params_m": count_parameters(model) / 1e6,
                "latency_ms": measure_latency(model, tuple(self.task.input_shape))}

    def first_fold_nll(self, strategy: Any) -> float:
        """Validation NLL of a fitted first-fold strategy on the first fold of the search's protocol (NaN: none)."""
        from warmstart.validation import plan_validation

        fold = plan_validation(self.task, "auto", seed=self.seed).folds[0]
        if strategy is None or fold.x_val is None or fold.y_val is None or len(fold.y_val) == 0:
            return math.nan
        return float(strategy.evaluate(fold, "val")["nll"])

    def value_of(self, metrics: dict[str, float]) -> float | list[float]:
        """The trial's value: the primary objective, then costs (nsga2), or primary − λ·costs."""
        primary = metrics["val_accuracy"] if self.objectives[0] != "loss" else -metrics["val_loss"]
        costs = [metrics[COSTS[c]] for c in self.objectives[1:]]
        return [primary, *costs] if self.multi else primary - self.lam * sum(costs)

    def save_weights(self, trial: optuna.Trial, model: Any) -> None:
        """Upload the trained weights as the trial's artifact (user attribute ``artifact_id``)."""
        import tempfile

        from optuna.artifacts import upload_artifact
        from safetensors.torch import save_file

        with tempfile.TemporaryDirectory(dir=self.artifacts) as tmp:  # nothing half-written if killed
            path = Path(tmp) / f"trial-{trial.number}.safetensors"
            save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(path))
            art = upload_artifact(artifact_store=self.store, file_path=str(path), study_or_trial=trial)
        trial.set_user_attr("artifact_id", art)


def _too_small(budget: Budget) -> str:
    return (f"budget {budget} is too small for one candidate: no architecture finished training; "
            "give a larger --budget")


def _run_candidates(objective: CandidateObjective, study: optuna.Study, strategy: str, bud: Budget, t0: float,
                    baseline: bool) -> dict[str, Any] | None:
    """Run the architecture candidates in what is left of the budget (started at ``t0``); DARTS' report.

    A trial budget counts candidates (the study's baseline trials are added to it); a wall-time
    budget ends at ``t0 + seconds``. With a ``baseline`` trial finished, a budget that runs out
    before any candidate finishes is not an error: the baseline stands.
    """
    from warmstart.search._baseline import is_baseline
    from warmstart.search.budget import COUNTED
    from warmstart.search.driver import drive

    left = None if bud.seconds is None else t0 + bud.seconds - time.monotonic()
    if left is not None and left <= 0:
        return None
    if strategy == "darts":
        from warmstart.search.darts import run_darts

        try:
            return run_darts(objective, study, bud if left is None else Budget(seconds=left), time.monotonic())
        except ConfigError:
            if not baseline or left is None or time.monotonic() < t0 + (bud.seconds or 0.0):
                raise
            return None  # the one-shot search ran out of time: the baseline stands
    n_trials = None
    if bud.trials is not None:
        n_trials = bud.trials + sum(is_baseline(t) for t in study.get_trials(deepcopy=False, states=COUNTED))
    objective.deadline = None if left is None else time.monotonic() + left
    drive(study, objective, n_trials=n_trials, deadline=None if left is None else time.time() + left,
          catch=(TrainingDivergedError, RuntimeError))
    return None


def search_architecture(task: str | Task, source: str | Path | Source, *, strategy: str = "evolution",
                        budget: str | int | Budget = 20, objective: str | list[str] = "accuracy",
                        lam: float = 0.01, inherit: bool = True, shots: int | None = None, seed: int = 0,
                        space: Space | None = None, epochs: int = 15, lr: float = 3e-3, batch_size: int = 32,
                        transfer_strategy: str | None = "finetune", transfer_params: dict[str, Any] | None = None,
                        baseline: str | None = "l2sp", baseline_params: dict[str, Any] | None = None,
                        out: str | Path | None = None, storage: str | Path | BaseStorage | None = None,
                        run_dir: str | Path | None = None,
                        device: str = "auto", progress: bool = False) -> dict[str, Any]:
    """Search an architecture for ``task`` starting from ``source``; train and optionally save the final model.

    Args:
        task: Target task (name, path or Task).
        source: Source checkpoint folder or :class:`Source`.
        strategy: One of ``random, evolution, tpe, rl, darts, nsga2``.
        budget: Candidate trials of the whole study (``20``; a resumed study counts its earlier
            candidates; the baseline trial is one more) or wall time of this call (``"90s"``,
            ``"10m"``), baseline trial included, final training excluded.
        objective: ``accuracy`` or ``loss``, optionally followed by costs ``params``/``latency``.
        lam: λ of the scalarized objective (primary − λ·costs) for single-objective strategies.
        inherit: Start candidates from the source weights (False: the random-initialization
            study, its own study, without a baseline trial).
        shots: Few-shot protocol (labels per class in total); validation comes out of them.
        seed: Seed of the support set, the folds, the sampler and training.
        space: The space (default: :class:`NASSpace` of the source backbone).
        epochs, lr, batch_size: Training of each candidate (``nas_candidate`` hyperparameters).
        transfer_strategy: Strategy that trains a winning candidate afterwards from its searched
            weights (None: the candidate is trained again on every label).
        transfer_params: Its hyperparameters.
        baseline: The baseline trial's strategy, ``l2sp`` (default) or ``finetune``, on the unchanged
            source architecture; ``"none"`` or None: no baseline (the final model is the best
            candidate). The final model is the baseline unless a candidate beats it on validation;
            ties go to the baseline (:mod:`warmstart.search._baseline`).
        baseline_params: The baseline strategy's hyperparameters (default: its defaults).
        out: Save the final model here as a checkpoint folder (its metadata records the architecture).
        storage: The knowledge base holding the study (see :func:`warmstart.knowledge.open_storage`).
        run_dir: Folder of the trials' artifacts (their trained weights; default ``<cache>/artifacts``).
        device: Torch device of training.
        progress: Progress bars for the final training.

    Returns:
        JSON-serializable result: the final model's architecture (``unchanged_source`` when the
        baseline won), its trial and validation scores, ``final_choice`` (which won, why, and both
        validation scores), ``baseline`` (its strategy, params, seconds, whether reused or failed;
        None without one), the number of candidates (``n_trials``), the timeline of the study's
        trials (best-so-far vs seconds, baseline rows marked), the candidates' Pareto front
        (several objectives), final test metrics, search and final-training seconds, and ``study``
        (``storage`` URL, ``name``, ``artifacts`` folder).

    Raises:
        ConfigError: unknown strategy/objective/baseline, an empty or contradictory space, settings
            that differ from the stored study's, or a budget too small for one candidate when there
            is no baseline trial either.
    """
    from warmstart.backbones.adapt import adapt_to_task
    from warmstart.engine.device import configure_threads
    from warmstart.search._baseline import choose, is_baseline, parse_baseline, run_baseline
    from warmstart.search._nas_study import best_candidate, finish, prepare_study
    from warmstart.tasks import load_task

    if strategy not in STRATEGIES:
        raise ConfigError(f"unknown search strategy {strategy!r}; valid: {', '.join(STRATEGIES)}")
    objectives = parse_objectives(objective)
    baseline = parse_baseline(baseline)
    if not inherit:  # the random-initialization study has no baseline: it would use the source's weights
        baseline = None
    if strategy == "nsga2" and len(objectives) < 2:
        objectives = [objectives[0], "latency"]
    bud = Budget.parse(budget)
    configure_threads()
    target = load_task(task) if not isinstance(task, Task) else task
    if shots is not None and target.shots is None:
        target = target.few_shot(shots, seed=seed)
    src = source if isinstance(source, Source) else Source(path=Path(source), seed=seed)
    ckpt = src.fresh_checkpoint(progress)
    base, adapt_report = adapt_to_task(ckpt.model, target, ckpt.classes, "auto")
    base = base.to("cpu")
    space = space if space is not None else NASSpace.from_model(base)
    space.validate()
    if target.y_train is None or len(target.y_train) == 0:
        raise ConfigError(f"architecture search needs labelled target examples and task {target.name!r} has none "
                          "(give --shots 1 or more)")
    from warmstart.validation import plan_validation

    plan_validation(target, "auto", seed=seed)  # too few labels to validate: one clear error before any trial
    multi = strategy == "nsga2"
    study, info = prepare_study(target, strategy, space, objectives, lam=lam, inherit=inherit, multi=multi,
                                storage=storage, seed=seed)
    if run_dir is not None:
        artifacts = Path(run_dir) / "artifacts"
    else:
        from warmstart._paths import cache_dir

        artifacts = cache_dir() / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    objective_fn = CandidateObjective(target, src, base, space, objectives, multi=multi, lam=lam, inherit=inherit,
                                      evolution=strategy == "evolution",
                                      params={"epochs": epochs, "lr": lr, "batch_size": batch_size}, seed=seed,
                                      device=device, artifacts=artifacts)
    t0 = time.monotonic()
    base_trial, base_report = (run_baseline(objective_fn, study, baseline, baseline_params) if baseline
                               else (None, None))
    darts_info = _run_candidates(objective_fn, study, strategy, bud, t0, base_trial is not None)
    search_seconds = time.monotonic() - t0
    done = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
            if not is_baseline(t)]
    if not done and base_trial is None:
        raise ConfigError(_too_small(bud))
    choice = choose(best_candidate(done, strategy), base_trial)
    result = finish(objective_fn, study, done, choice, strategy=strategy, transfer_strategy=transfer_strategy,
                    transfer_params=transfer_params or {}, progress=progress, out=out)
    if base_report is not None and base_trial is not None:
        base_report.update({"trial": base_trial.number, "val_accuracy": base_trial.user_attrs["val_accuracy"],
                            "val_loss": base_trial.user_attrs["val_loss"]})
    result.update({"strategy": strategy, "inherit": inherit, "budget": str(bud), "search_seconds": search_seconds,
                   "objectives": objectives, "lam": lam, "space": space.describe(), "baseline": base_report,
                   "adapted": adapt_report.get("adapted", []), "source_head": adapt_report.get("head"),
                   "study": {**info, "artifacts": str(artifacts)}})
    if darts_info is not None:
        result["darts"] = darts_info
    return result
