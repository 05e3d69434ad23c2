"""One tuning trial: train the strategy with the trial's hyperparameters and score it on validation data.

Hyperparameters are chosen on validation data, never on test labels:

* a task with a labelled validation split: train on the training split, score on
  the validation split (the Trainer reports the validation accuracy after each
  epoch, which feeds Optuna's pruner);
* no validation split (the few-shot protocol drops it): stratified k-fold
  cross-validation on the labelled training (support) set, k = min(3, smallest
  class size); the score is the mean over folds; fold 0 reports per-epoch
  scores for pruning.

Test metrics are computed for reporting only (trial user attribute ``test``;
under cross-validation, of the fold-0 model) and never feed the search.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from typing import Any

import optuna
import torch
from torch import nn

from warmstart.engine.callbacks import Callback, extra_callbacks
from warmstart.errors import ConfigError
from warmstart.source import Source
from warmstart.strategies import get_strategy
from warmstart.tasks._task import Task, take

METRICS = {"val_accuracy": "accuracy", "val_macro_f1": "macro_f1", "val_balanced_accuracy": "balanced_accuracy"}


class PruningCallback(Callback):
    """Report the validation metric after every evaluated epoch; prune when Optuna's pruner says so."""

    def __init__(self, trial: optuna.Trial, metric: str = "val_accuracy") -> None:
        self.trial, self.metric, self.step = trial, metric, 0
        self.curve: list[float] = []

    def on_epoch_end(self, epoch: int, logs: dict[str, Any], model: nn.Module) -> None:
        if self.metric not in logs:
            return
        value = float(logs[self.metric])
        self.curve.append(value)
        self.trial.report(value, self.step)
        self.step += 1
        if self.trial.should_prune():
            self.trial.set_user_attr("curve", self.curve)
            raise optuna.TrialPruned(f"pruned after {self.step} evaluations ({self.metric} {value:.4f})")


def cv_folds(y: torch.Tensor, k: int, seed: int) -> list[torch.Tensor]:
    """Stratified fold index sets of the labels ``y`` (seeded)."""
    gen = torch.Generator().manual_seed(seed)
    folds: list[list[torch.Tensor]] = [[] for _ in range(k)]
    for c in torch.unique(y):
        idx = torch.nonzero(y == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=gen)]
        for f in range(k):
            folds[f].append(idx[f::k])
    return [torch.cat(f) for f in folds]


def validation_tasks(task: Task, seed: int, max_folds: int = 3) -> list[Task]:
    """The (train, validation) tasks a trial trains and scores on (see the module docstring).

    Raises:
        ConfigError: no validation split and a class has fewer than 2 labelled examples.
    """
    if task.x_val is not None and task.y_val is not None and len(task.y_val) > 0:
        return [task]
    counts = torch.bincount(task.y_train, minlength=task.n_classes)
    k = min(max_folds, int(counts.min()))
    if k < 2:
        raise ConfigError(f"task {task.name!r} has no validation split and a class with {int(counts.min())} "
                          "labelled example(s); tuning needs at least 2 per class for cross-validation "
                          "(use --shots 2 or more)")
    out = []
    n = len(task.y_train)
    for fold in cv_folds(task.y_train, k, seed):
        mask = torch.ones(n, dtype=torch.bool)
        mask[fold] = False
        train = torch.nonzero(mask).flatten()
        out.append(task.replace(x_train=take(task.x_train, train), y_train=task.y_train[train],
                                x_val=take(task.x_train, fold), y_val=task.y_train[fold]))
    return out


@dataclass
class TrialResult:
    """What one trial measured."""

    value: float
    test: dict[str, float]
    seconds: float
    folds: int
    model: Any


def evaluate_config(task: Task, strategy: str, params: dict[str, Any], source: Source | None, *,
                    trial: optuna.Trial | None = None, metric: str = "val_accuracy", seed: int = 0,
                    device: str = "auto") -> TrialResult:
    """Train ``strategy`` with ``params`` and return its validation score (and test metrics for reporting).

    Raises:
        ConfigError: unknown metric, or too few labels for cross-validation.
        optuna.TrialPruned: the pruner stopped the trial.
        TrainingDivergedError: the loss became NaN/inf.
    """
    if metric not in METRICS:
        raise ConfigError(f"unknown metric {metric!r}; valid metrics: {', '.join(METRICS)}")
    scores, seconds = [], 0.0
    test: dict[str, float] = {}
    model = None
    folds = validation_tasks(task, seed)
    for i, fold_task in enumerate(folds):
        strat = get_strategy(strategy, seed=seed, device=device, progress=False, **params)
        cbs = [PruningCallback(trial, metric)] if (trial is not None and i == 0) else []
        with extra_callbacks(*cbs):
            strat.fit(fold_task, source)
        if cbs and trial is not None:
            trial.set_user_attr("curve", cbs[0].curve)
        scores.append(strat.evaluate(fold_task, "val")[METRICS[metric]])
        seconds += strat.fit_seconds_
        if i == 0:
            test = strat.evaluate(task, "test")  # reporting only
            model = strat.model_
    return TrialResult(sum(scores) / len(scores), test, seconds, len(folds), model)


def save_model_artifact(store: Any, trial: optuna.Trial, model: Any, task: Task, params: dict[str, Any]) -> None:
    """Save the trial's model as a checkpoint artifact (see :mod:`warmstart.knowledge.artifacts`)."""
    from warmstart.backbones.checkpoint import save_checkpoint
    from warmstart.knowledge.artifacts import upload_checkpoint

    with tempfile.TemporaryDirectory() as tmp:
        path = save_checkpoint(model, f"{tmp}/trial-{trial.number}", classes=task.classes, source_task=task.name,
                               extra={"params": params, "trial": trial.number})
        upload_checkpoint(store, trial, path)
