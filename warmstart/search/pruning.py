"""Pruning reports: a training callback that feeds per-epoch validation scores to Optuna's pruner."""

from __future__ import annotations

from typing import Any

import optuna
from torch import nn

from warmstart.engine.callbacks import Callback


class PruningCallback(Callback):
    """Report the validation metric after every evaluated epoch; prune when Optuna's pruner says so.

    Attributes:
        curve: The reported values, epoch by epoch (also stored as the trial's ``curve`` attribute
            when the trial is pruned).
    """

    def __init__(self, trial: optuna.Trial, metric: str = "val_accuracy") -> None:
        self.trial, self.metric, self.step = trial, metric, 0
        self.curve: list[float] = []

    def on_epoch_end(self, epoch: int, logs: dict[str, Any], model: nn.Module) -> None:
        """Report ``logs[metric]`` (when logged) and raise ``optuna.TrialPruned`` if the pruner says so."""
        if self.metric not in logs:
            return
        value = float(logs[self.metric])
        self.curve.append(value)
        self.trial.report(value, self.step)
        self.step += 1
        if self.trial.should_prune():
            self.trial.set_user_attr("curve", self.curve)
            raise optuna.TrialPruned(f"pruned after {self.step} evaluations ({self.metric} {value:.4f})")
