"""Recipe, Result and run_recipe: the one path from (Task, Recipe) to a Result.

``transfer``, every trial of ``tune``, ``search`` and ``auto``, and their final
retrains call :func:`run_recipe`; nothing else builds and fits a strategy.

* A :class:`Recipe` is a frozen, JSON-serializable value: where the knowledge comes
  from (a checkpoint folder or model-zoo name, optionally a weights file, and/or a
  source task), the strategy and its hyperparameters, an optional architecture (the
  NAS cut/freeze/neck spec), the few-shot cut and the seed.
* A :class:`Result` is what one run measured: the validation score and how it was
  obtained (:mod:`warmstart.validation`), the test metrics (reported, never read by a
  search), the per-epoch curve, seconds, the adaptations made, notes, and optionally
  the fitted strategy and its model.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from warmstart.errors import ConfigError

#: validation metrics a search may maximize, by the name of the trainer's log key
METRICS = {"val_accuracy": "accuracy", "val_macro_f1": "macro_f1", "val_balanced_accuracy": "balanced_accuracy"}


def _frozen_json(value: Any, what: str) -> Any:
    """Check that ``value`` is JSON-serializable and return a canonical copy."""
    try:
        return json.loads(json.dumps(value, sort_keys=True))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"recipe {what} must be JSON-serializable: {exc}") from None


@dataclass(frozen=True)
class Recipe:
    """What to try on a task: a frozen, JSON-serializable value.

    Attributes:
        strategy: Registered strategy name (``warmstart strategies``).
        params: The strategy's hyperparameters (validated when the strategy is built);
            ``seed``, ``device`` and ``progress`` are set by :func:`run_recipe`.
        source: A checkpoint folder, or a model-zoo name (``timm:NAME``, ``hf:NAME``); None.
        weights: A local weights file for a model-zoo source; None.
        source_spec: The source as the user named it when ``source`` is the checkpoint it was
            turned into (``timm:NAME with weights FILE``, imported into a cached checkpoint);
            shown in reports, never used for loading. None: ``source`` is how it was named.
        source_task: A source task (data for methods that train on it; pretrained first
            when no checkpoint is given); None.
        architecture: The NAS candidate spec (cut depth, frozen stages, neck) applied to the
            source model before the strategy trains it; None keeps the source architecture.
        shots: Labels per class in total (the few-shot cut, applied by :func:`run_recipe`),
            or None to use every label of the task.
        seed: Seed of the few-shot cut, the folds and training.
    """

    strategy: str
    params: Mapping[str, Any] = field(default_factory=dict)
    source: str | None = None
    weights: str | None = None
    source_task: str | None = None
    source_spec: str | None = None
    architecture: Mapping[str, Any] | None = None
    shots: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.strategy, str) or not self.strategy:
            raise ConfigError("a recipe needs a strategy name")
        params = _frozen_json(dict(self.params), "params")
        for reserved in ("seed", "device", "progress"):
            if reserved in params:
                raise ConfigError(f"recipe params may not set {reserved!r}: it is a field of the run")
        object.__setattr__(self, "params", params)
        if self.architecture is not None:
            object.__setattr__(self, "architecture", _frozen_json(dict(self.architecture), "architecture"))
        for name in ("source", "weights", "source_task", "source_spec"):
            v = getattr(self, name)
            if v is not None:
                object.__setattr__(self, name, str(v))
        if self.shots is not None and (not isinstance(self.shots, int) or self.shots < 0):
            raise ConfigError(f"recipe shots must be a whole number >= 0, got {self.shots!r}")

    def __hash__(self) -> int:
        return hash(self.key())

    def to_json(self) -> dict[str, Any]:
        """The recipe as a JSON object (the knowledge base stores this)."""
        return {"strategy": self.strategy, "params": dict(self.params), "source": self.source,
                "weights": self.weights, "source_task": self.source_task, "source_spec": self.source_spec,
                "architecture": None if self.architecture is None else dict(self.architecture),
                "shots": self.shots, "seed": self.seed}

    def key(self) -> str:
        """Canonical JSON text: equal recipes have equal keys."""
        return json.dumps(self.to_json(), sort_keys=True)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Recipe:
        """Rebuild from :meth:`to_json` output.

        Raises:
            ConfigError: unknown fields or a missing strategy.
        """
        unknown = set(data) - {"strategy", "params", "source", "weights", "source_task", "source_spec",
                               "architecture", "shots", "seed"}
        if unknown:
            raise ConfigError(f"recipe has unknown field(s): {', '.join(sorted(unknown))}")
        if "strategy" not in data:
            raise ConfigError("recipe has no strategy")
        return cls(**dict(data))

    def replace(self, **changes: Any) -> Recipe:
        """A copy with some fields changed."""
        return Recipe.from_json({**self.to_json(), **changes})

    def describe(self) -> str:
        """One line for logs and reports."""
        parts = [self.strategy]
        if self.params:
            parts.append(", ".join(f"{k}={v}" for k, v in sorted(self.params.items())))
        src = " + ".join(s for s in (self.source_spec or self.source, self.source_task and f"task {self.source_task}")
                         if s)
        if src:
            parts.append(f"from {src}")
        if self.architecture:
            parts.append(f"arch {json.dumps(dict(self.architecture), sort_keys=True)}")
        if self.shots is not None:
            parts.append(f"{self.shots} shots")
        return " | ".join(parts) + f" | seed {self.seed}"


@dataclass
class Result:
    """What one run of a recipe measured.

    Attributes:
        recipe: The recipe that ran.
        task: Name of the target task.
        score: Validation score (higher is better; None under ``validation="none"``).
        validation: How the score was obtained (``split``, ``kfold``, ``loo``, ``label-free``, ``none``).
        validation_detail: One line, e.g. ``"stratified 3-fold CV on the 15 support labels"``.
        metric: The validation metric (``val_accuracy``, ``infomax`` ...).
        fold_scores: The score of each fold.
        test: Test metrics of the reported model (reporting only; never read by a search).
        curve: Per-epoch validation metric of the first fold (for pruning and gray-box priors).
        seconds: Wall time of the whole run (every fold).
        fit_seconds: Wall time of the first fold's fit (None: not measured).
        train_seconds: The part of ``fit_seconds`` spent in training steps (its epochs' logged
            ``seconds``, without evaluations; None when the strategy logs none).
        fit_labels: Labelled examples the first fold was fitted on (None: not measured).
        adaptations: What was adapted between source and target (channels, size, head ...).
        notes: Anything the user should know about this run.
        info: The strategy's own report (``strategy.info_``).
        strategy: The fitted strategy of the reported model (None unless kept).
    """

    recipe: Recipe
    task: str
    score: float | None
    validation: str
    validation_detail: str = ""
    metric: str = "val_accuracy"
    fold_scores: list[float] = field(default_factory=list)
    test: dict[str, float] = field(default_factory=dict)
    curve: list[float] = field(default_factory=list)
    seconds: float = 0.0
    fit_seconds: float | None = None
    train_seconds: float | None = None
    fit_labels: int | None = None
    adaptations: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    strategy: Any = None

    @property
    def model(self) -> Any:
        """The fitted model (``strategy.model_``), or None when it was not kept."""
        return None if self.strategy is None else self.strategy.model_

    def to_json(self) -> dict[str, Any]:
        """JSON-serializable summary (without the model)."""
        return {"recipe": self.recipe.to_json(), "task": self.task, "score": self.score,
                "validation": self.validation, "validation_detail": self.validation_detail,
                "metric": self.metric, "fold_scores": self.fold_scores, "test": self.test, "curve": self.curve,
                "seconds": self.seconds, "fit_seconds": self.fit_seconds, "train_seconds": self.train_seconds,
                "fit_labels": self.fit_labels,
                "adaptations": self.adaptations, "notes": self.notes,
                "info": json.loads(json.dumps(self.info, default=str))}


def _curve(history: Any, key: str) -> list[float]:
    """A per-epoch curve from a strategy's ``history_`` (empty when it logged none)."""
    curve = getattr(history, "curve", None)
    return [float(v) for v in curve(key)] if callable(curve) else []


def _train_seconds(history: Any) -> float | None:
    """Seconds of a fit's training steps: its epochs' logged ``seconds`` (None when it logged none)."""
    secs = [e.get("seconds") for e in getattr(history, "epochs", None) or [] if isinstance(e, Mapping)]
    vals = [float(v) for v in secs if isinstance(v, (int, float))]
    return sum(vals) if vals else None


def _adaptations(info: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("adapted", "head", "architecture", "source", "source_sha256", "bn_adapted_on", "standardized")
    return {k: info[k] for k in keys if k in info}


def run_recipe(task: Any, recipe: Recipe, *, validation: str = "auto", trial: Any = None,
               source: Any = None, metric: str = "val_accuracy", device: str = "auto",
               progress: bool = False, keep_model: bool = True, max_folds: int = 3) -> Result:
    """Turn (task, recipe) into a :class:`Result`: the one function every command and search calls.

    Args:
        task: The target :class:`~warmstart.tasks.Task` (or a task name or path). When the recipe
            has ``shots`` and the task is not cut yet, the few-shot cut is applied here.
        recipe: What to run.
        validation: ``auto`` (see :mod:`warmstart.validation`), a forced protocol, or ``none``
            for a final fit on every label.
        trial: An Optuna trial: the first fold reports its per-epoch validation metric to the
            trial's pruner (which may stop the run with ``optuna.TrialPruned``).
        source: A ready :class:`~warmstart.source.Source` (shared by many runs so a source task
            is pretrained once); None builds it from the recipe.
        metric: Validation metric for labelled protocols (:data:`METRICS`).
        device: Torch device.
        progress: Show progress bars.
        keep_model: Keep the fitted strategy (and its model) in the result.
        max_folds: Most folds of cross-validation / leave-one-out.

    Returns:
        The result. Test labels are read only to fill ``test``.

    Raises:
        ConfigError, UnknownNameError, IncompatibleError: a bad recipe for this task.
        TrainingDivergedError: the loss became NaN or infinite.
        optuna.TrialPruned: the trial's pruner stopped the run.
    """
    from warmstart.engine.callbacks import extra_callbacks
    from warmstart.strategies import get_strategy
    from warmstart.tasks import Task, load_task
    from warmstart.validation import plan_validation

    if metric not in METRICS:
        raise ConfigError(f"unknown metric {metric!r}; valid metrics: {', '.join(METRICS)}")
    t0 = time.perf_counter()
    target = task if isinstance(task, Task) else load_task(task)
    if recipe.shots is not None:
        if target.shots is None:
            target = target.few_shot(recipe.shots, seed=recipe.seed)
        elif target.shots != recipe.shots:
            raise ConfigError(f"task {target.name!r} is already cut to {target.shots} shots; the recipe asks "
                              f"for {recipe.shots}")
    src = source if source is not None else make_source(recipe, device=device, progress=progress)
    plan = plan_validation(target, validation, seed=recipe.seed, max_folds=max_folds)
    if plan.kind == "label-free":
        metric = "infomax"
    fold_scores: list[float] = []
    curve: list[float] = []
    first: Any = None
    fit_s: float | None = None
    train_s: float | None = None
    fit_n: int | None = None
    for i, fold in enumerate(plan.folds):
        strat = get_strategy(recipe.strategy, seed=recipe.seed, device=device, progress=progress and i == 0,
                             **dict(recipe.params))
        if recipe.architecture is not None:
            _set_architecture(strat, recipe.architecture)
        cbs = []
        if trial is not None and i == 0 and plan.kind != "label-free":
            from warmstart.search.pruning import PruningCallback

            cbs.append(PruningCallback(trial, metric))
        with extra_callbacks(*cbs):
            strat.fit(fold, src)
        if i == 0:
            first = strat
            curve = cbs[0].curve if cbs else _curve(strat.history_, metric)
            fit_s, train_s = getattr(strat, "fit_seconds_", None), _train_seconds(getattr(strat, "history_", None))
            fit_n = len(fold.y_train) if getattr(fold, "y_train", None) is not None else 0
        if plan.kind in ("split", "kfold", "loo"):
            with warnings.catch_warnings():  # a 1-example LOO fold lacks most classes: sklearn warns
                warnings.simplefilter("ignore")
                fold_scores.append(float(strat.evaluate(fold, "val")[METRICS[metric]]))
        elif plan.kind == "label-free":
            fold_scores.append(label_free_score(strat, fold))
    test = first.evaluate(target, "test") if target.y_test is not None and len(target.y_test) else {}
    info = dict(first.info_)
    notes = list(info.pop("notes", []) or [])
    return Result(recipe=recipe, task=target.name, score=sum(fold_scores) / len(fold_scores) if fold_scores else None,
                  validation=plan.kind, validation_detail=plan.description, metric=metric, fold_scores=fold_scores,
                  test=test, curve=curve, seconds=time.perf_counter() - t0, fit_seconds=fit_s, train_seconds=train_s,
                  fit_labels=fit_n,
                  adaptations=_adaptations(info),
                  notes=notes, info=info, strategy=first if keep_model else None)


def label_free_score(strategy: Any, task: Any, max_items: int = 2000) -> float:
    """Information maximization of the fitted model's predictions on the task's unlabelled pool.

    H(mean p) − mean H(p) (higher is better): confident and diverse predictions. Method-agnostic,
    so recipes of different strategies are comparable without target labels.
    """
    import torch

    from warmstart.strategies._selection import infomax_score
    from warmstart.tasks._task import n_items, take

    pool = task.x_unlabeled
    n = n_items(pool)
    if n > max_items:
        idx = torch.randperm(n, generator=torch.Generator().manual_seed(0))[:max_items]
        pool = take(pool, idx)
    return infomax_score(strategy.predict_proba(strategy.task_inputs(task, pool)))


def make_source(recipe: Recipe, *, device: str = "auto", progress: bool = False) -> Any:
    """The :class:`~warmstart.source.Source` a recipe names (None when it names none)."""
    from warmstart.source import Source

    if recipe.source is None and recipe.source_task is None:
        return None
    kwargs: dict[str, Any] = {"seed": recipe.seed, "device": device}
    if recipe.weights is not None:
        kwargs["weights"] = recipe.weights
    if recipe.source_spec is not None:
        kwargs["spec"] = recipe.source_spec
    path: str | Path | None = recipe.source
    return Source.from_options(path, recipe.source_task, **kwargs)


def _set_architecture(strategy: Any, architecture: Mapping[str, Any]) -> None:
    """Give a strategy the NAS candidate spec (strategies that support it declare ``architecture_``)."""
    if not hasattr(strategy, "set_architecture"):
        raise ConfigError(f"strategy {strategy.name!r} cannot train a searched architecture; "
                          "use finetune or another fine-tuning strategy")
    strategy.set_architecture(dict(architecture))
