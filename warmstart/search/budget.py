"""Search budgets: a number of trials (``50``) or wall time (``90s``, ``10m``, ``2h``).

The same ``--budget`` syntax is used by every command that searches. A trial
budget counts the study's COMPLETE and PRUNED trials across all workers
(failed trials do not count), re-read from the storage, like Optuna's
``MaxTrialsCallback``; a time budget is the wall time of this command (each
worker stops starting new trials once it is spent).

**The surplus rule** (:func:`is_surplus`, the one definition every search uses):
workers race for the last trials of a budget of N, so a trial is *surplus* —
closed as FAIL before it trains — when N trials numbered before it count or may
still count: COMPLETE, PRUNED, RUNNING or WAITING (an enqueued trial is popped
before any new trial is created, so it will run and count). Trial numbers are
handed out atomically by the storage, so among racing workers exactly the ones
numbered past the budget are surplus, and the study never counts more than N.

:class:`DeadlineStop` brings a time limit inside a training run: it ends
training before an epoch that would not finish in time, or at the step where
the time runs out.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState
from torch import nn

from warmstart.engine.callbacks import Callback, StopTraining
from warmstart.errors import ConfigError

COUNTED = (TrialState.COMPLETE, TrialState.PRUNED)
#: states of trials that count, or may still count, against a trial budget (the surplus rule)
PENDING = (*COUNTED, TrialState.RUNNING, TrialState.WAITING)
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True)
class Budget:
    """A trial count or a number of seconds (exactly one is set)."""

    trials: int | None = None
    seconds: float | None = None

    @classmethod
    def parse(cls, text: str | int | Budget) -> Budget:
        """Parse ``"50"`` (trials), ``"90s"``, ``"10m"``, ``"2h"`` or ``"1.5h"`` (wall time).

        Raises:
            ConfigError: anything else, or a non-positive budget.
        """
        if isinstance(text, Budget):
            return text
        if isinstance(text, int) and not isinstance(text, bool):
            if text < 1:
                raise ConfigError(f"budget must be at least 1 trial, got {text}")
            return cls(trials=text)
        s = str(text).strip().lower()
        if re.fullmatch(r"\d+", s):
            n = int(s)
            if n < 1:
                raise ConfigError(f"budget must be at least 1 trial, got {s!r}")
            return cls(trials=n)
        m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([smh])", s)
        if not m or float(m.group(1)) <= 0:
            raise ConfigError(f"budget {text!r} is not valid; give trials (50) or wall time (90s, 10m, 2h)")
        return cls(seconds=float(m.group(1)) * _UNITS[m.group(2)])

    def __str__(self) -> str:
        return f"{self.trials} trials" if self.trials is not None else f"{self.seconds:g} s"


def counted_trials(study: optuna.Study) -> int:
    """COMPLETE + PRUNED trials of ``study`` (re-read from its storage)."""
    return len(study.get_trials(deepcopy=False, states=COUNTED))


def is_surplus(trials: Sequence[FrozenTrial], number: int, n_trials: int | None) -> bool:
    """Whether trial ``number`` would exceed a budget of ``n_trials`` (the surplus rule, module docstring).

    Args:
        trials: The study's trials, freshly read from its storage.
        number: The trial's number.
        n_trials: The trial budget of the whole study; None (a time budget): never surplus.
    """
    if n_trials is None:
        return False
    return sum(1 for t in trials if t.number < number and t.state in PENDING) >= n_trials


class BudgetTracker:
    """Decides, worker by worker, whether to start another trial.

    With a trial budget N it never lets the study count more than N trials:
    the surplus rule (:func:`is_surplus`) closes the trials numbered past the budget.
    """

    def __init__(self, budget: Budget, deadline: float | None = None) -> None:
        """``deadline``: absolute ``time.time()`` shared by local workers (default: now + budget)."""
        self.budget = budget
        if budget.seconds is not None:
            self.deadline: float | None = deadline if deadline is not None else time.time() + budget.seconds
        else:
            self.deadline = None

    def exhausted(self, study: optuna.Study) -> bool:
        """True when no further trial should start."""
        if self.deadline is not None:
            return time.time() >= self.deadline
        assert self.budget.trials is not None
        return counted_trials(study) >= self.budget.trials

    def pending(self, study: optuna.Study) -> int:
        """Counted plus running/waiting trials (a trial budget only)."""
        return len(study.get_trials(deepcopy=False, states=PENDING))

    def is_surplus(self, study: optuna.Study, number: int) -> bool:
        """Whether trial ``number`` would exceed the trial budget (:func:`is_surplus`)."""
        return is_surplus(study.get_trials(deepcopy=False), number, self.budget.trials)

    def remaining_seconds(self) -> float | None:
        """Seconds left of a time budget (None for a trial budget)."""
        return None if self.deadline is None else max(0.0, self.deadline - time.time())


class DeadlineStop(Callback):
    """End training when it would run past ``deadline``.

    Add it to a :class:`~warmstart.engine.trainer.Trainer` (directly or through
    :func:`~warmstart.engine.callbacks.extra_callbacks`). With ``whole_epochs`` (the default),
    after each epoch but the last it predicts the next epoch's duration as the longest epoch
    seen so far (validation included, over every training run it was attached to) and stops
    when ``now + that`` is past the deadline, so no epoch is started that cannot finish; after
    each optimizer step it stops once the deadline has passed (an epoch longer than the
    time left, e.g. the first one). Without ``whole_epochs`` only the second check runs: training
    uses the time up to the deadline, for a fit whose last weights are the model to return (auto's
    final fit: a whole epoch left unstarted cost its adaptation strategies up to a quarter of their
    steps). Stopping raises :class:`~warmstart.engine.callbacks.StopTraining`: the trainer then
    keeps its best epoch, or the weights of its last step when no epoch was validated yet or
    its selection is the last epoch (``monitor="epoch"``).

    Attributes:
        deadline: Absolute ``time.monotonic()`` value.
        stopped_after: Epochs completed when this callback stopped a run, else None.
        stopped_at_step: Optimizer steps done when it stopped a run, else None.
        total_epochs: Epochs the stopped (or last) run had planned.
    """

    def __init__(self, deadline: float, what: str = "the time budget", *, whole_epochs: bool = True) -> None:
        """``what`` names the limit in the stop message (e.g. ``"the 60 s budget"``); ``whole_epochs``: whether
        an epoch predicted not to finish before the deadline is left unstarted (else training runs to it)."""
        self.deadline, self.what, self.whole_epochs = deadline, what, whole_epochs
        self.stopped_after: int | None = None
        self.stopped_at_step: int | None = None
        self.total_epochs = 0
        self.longest = 0.0
        self._epochs_done = self._step = 0
        self._last = time.monotonic()

    def on_train_begin(self, model: nn.Module, total_epochs: int) -> None:
        self.total_epochs, self._epochs_done = total_epochs, 0
        self._last = time.monotonic()

    def on_batch_end(self, step: int, model: nn.Module) -> None:
        self._step = step
        if time.monotonic() > self.deadline:
            self.stopped_after, self.stopped_at_step = self._epochs_done, step
            self.stop(f"stopped at step {step}, in epoch {self._epochs_done + 1} of {self.total_epochs}: "
                      f"{self.what} ran out")

    def on_epoch_end(self, epoch: int, logs: dict[str, Any], model: nn.Module) -> None:
        now = time.monotonic()
        self.longest = max(self.longest, now - self._last)
        self._last, self._epochs_done = now, epoch
        if self.whole_epochs and epoch < self.total_epochs and now + self.longest > self.deadline:
            self.stopped_after = epoch
            self.stopped_at_step = self._step
            self.stop(f"stopped after epoch {epoch} of {self.total_epochs}: {self.what} leaves no time "
                      f"for another ({self.longest:.1f} s each)")

    def stop(self, message: str) -> None:
        """End the run (raises :class:`StopTraining`; subclasses may raise something else)."""
        raise StopTraining(message)


class DeadlinePrune(DeadlineStop):
    """Like :class:`DeadlineStop`, but prunes the enclosing Optuna trial instead of ending training.

    For search trials: a trial cut short must not be compared with complete ones, so
    it ends as PRUNED (``optuna.TrialPruned``) rather than completing with a score of
    a shorter training.
    """

    def stop(self, message: str) -> None:
        """Raise ``optuna.TrialPruned`` with ``message``."""
        raise optuna.TrialPruned(message)
