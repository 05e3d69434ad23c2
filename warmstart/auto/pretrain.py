"""Pretraining the sources auto was given only as tasks, inside the budget, announced on stderr.

A source given as a task (``--source-task``) needs a model before it can be
ranked: :meth:`warmstart.source.Source.checkpoint` pretrains one (or reuses a
cached pretraining). Under a time budget each pretraining gets an equal part of
what is left of :data:`~warmstart.auto.clock.PRETRAIN_SHARE` of the budget and
stops when its time is up (a pretraining cut short is cached under its own key).
The time counts in the budget; each pretraining that actually trains is
reported with one line on stderr and one note.
"""

from __future__ import annotations

import sys
from typing import Any

from torch import nn

from warmstart.auto.clock import PRETRAIN_SHARE, Clock
from warmstart.engine.callbacks import Callback, extra_callbacks
from warmstart.source import Source


class _Watch(Callback):
    """Counts the epochs and steps of the training runs started inside its block."""

    def __init__(self) -> None:
        self.planned = self.epochs = self.steps = 0

    def on_train_begin(self, model: nn.Module, total_epochs: int) -> None:
        self.planned += total_epochs

    def on_batch_end(self, step: int, model: nn.Module) -> None:
        self.steps += 1

    def on_epoch_end(self, epoch: int, logs: dict[str, Any], model: nn.Module) -> None:
        self.epochs += 1


def pretrain_sources(candidates: list[tuple[str, Source]], clock: Clock, progress: bool = True) -> list[str]:
    """Give every task-only candidate its checkpoint, within the clock's pretraining share; return notes.

    Candidates that have a checkpoint are left alone. The seconds spent are added to
    ``clock.phases["pretraining"]``.
    """
    todo = [(name, src) for name, src in candidates if not src.has_checkpoint]
    notes: list[str] = []
    for i, (name, src) in enumerate(todo):
        watch = _Watch()
        deadline = clock.pretrain_deadline(len(todo) - i)
        with clock.phase("pretraining"), extra_callbacks(watch):
            t0 = clock.elapsed()
            src.checkpoint(progress, deadline=deadline)
            seconds = clock.elapsed() - t0
        if not watch.planned:
            notes.append(f"source {name}: a cached pretraining was reused")
            continue
        if clock.seconds is None:
            counted = "before the search (a trial budget does not bound pretraining)"
        else:
            cut = " (stopped by the budget)" if watch.epochs < watch.planned else ""
            counted = (f"counted in the {clock.seconds:g} s budget, of which pretraining may use at most "
                       f"{PRETRAIN_SHARE:.0%}{cut}")
        line = (f"pretraining source on {src.task_name}: {watch.epochs} of {watch.planned} epochs "
                f"({watch.steps} steps) in {seconds:.0f} s, {counted}")
        print(line, file=sys.stderr, flush=True)
        notes.append(line)
    return notes
