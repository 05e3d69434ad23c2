"""``scratch``: the same architecture trained from random initialization.

The baseline every table shows: what the target's labels alone achieve.
"""

from __future__ import annotations

from typing import Any, ClassVar

from warmstart.engine.trainer import Trainer
from warmstart.strategies._base import Strategy
from warmstart.strategies._params import Param
from warmstart.strategies._transfer import scratch_model, validation_data
from warmstart.tasks._task import Task


class Scratch(Strategy):
    """Train from scratch (no transfer); the reference baseline."""

    name = "scratch"
    paper = "baseline (no transfer)"
    summary = "same architecture, random initialization"
    starts_from_source = False
    params: ClassVar[dict[str, Param]] = {
        "lr": Param(3e-3, 1e-7, 10.0, log=True, search=(1e-4, 3e-2), help="learning rate"),
        "min_steps": Param(200, 0, 10_000_000, help="at least this many optimizer steps"),
    }

    def _fit(self, task: Task, source: Any) -> None:
        model, report = scratch_model(task, source, self.seed)
        self.info_.update(report)
        trainer = Trainer(model, self.train_config())
        self.history_ = trainer.fit(task.x_train, task.y_train, val=validation_data(task),
                                    description="scratch")
        self.model_ = model
