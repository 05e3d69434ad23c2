"""``finetune``: fine-tune every layer from the source weights, with a faster head.

Standard fine-tuning (Yosinski et al. 2014, "How transferable are features in
deep neural networks?"): all layers train; the new (or reused) head gets
``head_lr_mult`` times the backbone's learning rate.
"""

from __future__ import annotations

from typing import Any, ClassVar

from warmstart.engine.trainer import Trainer
from warmstart.strategies._base import Strategy
from warmstart.strategies._params import Param
from warmstart.strategies._transfer import source_model, validation_data
from warmstart.tasks._task import Task


class Finetune(Strategy):
    """Fine-tune all layers; head learning rate = ``lr * head_lr_mult``."""

    name = "finetune"
    paper = "Yosinski et al., How transferable are features in deep neural networks?, NeurIPS 2014"
    summary = "all layers, separate head learning rate"
    needs_source = True
    params: ClassVar[dict[str, Param]] = {
        "lr": Param(1e-3, 1e-7, 10.0, log=True, search=(1e-5, 1e-2), help="backbone learning rate"),
        "head_lr_mult": Param(10.0, 0.01, 1000.0, log=True, search=(1.0, 100.0),
                              help="head learning rate / backbone learning rate"),
        "head": Param("auto", choices=("auto", "reuse", "new"),
                      help="reuse the source classifier when class names match (auto), or not"),
    }

    def _fit(self, task: Task, source: Any) -> None:
        model, report = source_model(task, source, self.head, progress=self.progress)
        self.info_.update(report)
        head_params = list(model.head.parameters()) if model.head is not None else []
        groups = [{"params": model.backbone_parameters(), "lr": self.lr},
                  {"params": head_params, "lr": self.lr * self.head_lr_mult}]
        trainer = Trainer(model, self.train_config(), param_groups=groups)
        self.history_ = trainer.fit(task.x_train, task.y_train, val=validation_data(task),
                                    description="finetune")
        self.model_ = model
