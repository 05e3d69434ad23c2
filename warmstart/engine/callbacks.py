"""Callbacks: hooks the training loop calls once per epoch.

A callback may stop training (``StopTraining``) or raise anything else, e.g.
``optuna.TrialPruned`` from a pruning callback, which propagates to the caller.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Iterator
from typing import Any

from torch import nn


class StopTraining(Exception):
    """Raised by a callback to end training early (the loop catches it)."""


class Callback:
    """No-op base: override the hooks you need."""

    def on_train_begin(self, model: nn.Module, total_epochs: int) -> None:
        """Called once before the first epoch."""

    def on_batch_end(self, step: int, model: nn.Module) -> None:
        """Called after each optimizer step (``step``: steps done so far); keep it cheap."""

    def on_epoch_end(self, epoch: int, logs: dict[str, Any], model: nn.Module) -> None:
        """Called after each epoch with its logs (train_loss, val metrics, lr, time)."""

    def on_train_end(self, model: nn.Module, logs: dict[str, Any]) -> None:
        """Called once after training (also after an early stop)."""

    def horizon(self, step: int, total: int) -> int | None:
        """The step by which the learning-rate schedule should end, when this callback shortens it.

        Called after each optimizer step (after :meth:`on_batch_end`; keep it cheap) with the steps done
        and the steps the run planned. None: no opinion. After each step the trainer takes the smallest
        horizon the callbacks give (never below the steps done nor above the planned steps; a later, larger
        one lets the schedule grow back), runs its schedule (and :attr:`StepInfo.progress`) over that many
        steps, and ends the run there.
        """
        return None


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs that report it.

    The best weights are tracked by the trainer (it restores them when a
    monitored value exists); this callback only decides when to stop.
    """

    def __init__(self, monitor: str = "val_accuracy", patience: int = 5, mode: str = "max") -> None:
        self.monitor, self.patience, self.mode = monitor, patience, mode
        self.best = -math.inf if mode == "max" else math.inf
        self.bad = 0

    def state_dict(self) -> dict[str, Any]:
        """Counters to save with a resumable run."""
        return {"best": self.best, "bad": self.bad}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output."""
        self.best, self.bad = float(state["best"]), int(state["bad"])

    def on_epoch_end(self, epoch: int, logs: dict[str, Any], model: nn.Module) -> None:
        value = logs.get(self.monitor)
        if value is None:
            return
        better = value > self.best if self.mode == "max" else value < self.best
        if better:
            self.best, self.bad = value, 0
        else:
            self.bad += 1
            if self.bad >= self.patience:
                raise StopTraining(f"{self.monitor} did not improve for {self.patience} epochs")


class LambdaCallback(Callback):
    """Call ``fn(epoch, logs, model)`` at the end of every epoch (e.g. pruning reports)."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn

    def on_epoch_end(self, epoch: int, logs: dict[str, Any], model: nn.Module) -> None:
        self.fn(epoch, logs, model)


_AMBIENT: contextvars.ContextVar[tuple[Callback, ...]] = contextvars.ContextVar("warmstart_callbacks",
                                                                                 default=())


@contextlib.contextmanager
def extra_callbacks(*callbacks: Callback) -> Iterator[None]:
    """Add ``callbacks`` to every :class:`~warmstart.engine.trainer.Trainer` created inside the block.

    This is how a search reaches the training loop of any strategy without the
    strategy knowing: the study runner wraps a trial in ``extra_callbacks(pruning)``.
    """
    token = _AMBIENT.set(_AMBIENT.get() + tuple(callbacks))
    try:
        yield
    finally:
        _AMBIENT.reset(token)


def ambient_callbacks() -> tuple[Callback, ...]:
    """The callbacks added by the enclosing :func:`extra_callbacks` blocks."""
    return _AMBIENT.get()
