"""Shared skeleton of strategies that fine-tune a source model with a custom loss or
groups.

:class:`SourceFinetune` builds the adapted source model (channels, resolution, head
reuse or a new head, reported in ``info_``), trains it with the engine's
:class:`~warmstart.engine.trainer.Trainer`, and lets a subclass change only what its
method changes: the optimizer parameter groups (LLRD), an extra loss term on the
features and logits of each batch (BSS, L2-SP), or setup before training. Every subclass
also gets AdaBN on the unlabelled pool and the choice of frozen or updated batch-norm
statistics (:mod:`warmstart.strategies._bn`). Also holds the small freezing helpers used
by gradual unfreezing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from warmstart.backbones.classifier import Classifier
from warmstart.engine.trainer import StepInfo, Trainer
from warmstart.strategies._base import Strategy
from warmstart.strategies._bn import BN_PARAMS, maybe_adapt_bn
from warmstart.strategies._params import Param
from warmstart.strategies._transfer import source_model, validation_data
from warmstart.tasks._task import Task

HEAD_PARAM = Param("auto", choices=("auto", "reuse", "new"),
                   help="reuse the source classifier when class names match (auto), always (reuse) or never (new)")


def stages_in_use(model: Classifier) -> list[nn.Module]:
    """The backbone stages the model runs (its cut), bottom to top."""
    cut = model.backbone.num_stages if model.depth is None else model.depth
    return list(model.backbone.stages[:cut])


def head_parameters(model: Classifier) -> list[nn.Parameter]:
    """Parameters of the classifier head (empty when there is none)."""
    return list(model.head.parameters()) if model.head is not None else []


def freeze(modules: Sequence[nn.Module], frozen: bool = True) -> None:
    """Set ``requires_grad`` of every parameter of ``modules`` to ``not frozen``."""
    for m in modules:
        for p in m.parameters():
            p.requires_grad_(not frozen)


def bn_eval(modules: Sequence[nn.Module]) -> None:
    """Put the batch-norm layers inside ``modules`` in eval mode (their statistics stay fixed)."""
    for m in modules:
        for sub in m.modules():
            if isinstance(sub, nn.modules.batchnorm._BatchNorm):
                sub.eval()


class SourceFinetune(Strategy):
    """Base of fine-tuning strategies: the adapted source model trained with hooks.

    Subclasses override :meth:`param_groups`, :meth:`extra_loss` or :meth:`setup`.
    The head learning rate is ``lr * head_lr_mult``; ``head`` chooses head reuse.
    """

    needs_source = True
    params: ClassVar[dict[str, Param]] = {
        "lr": Param(1e-3, 1e-7, 10.0, log=True, search=(1e-5, 1e-2), help="backbone learning rate"),
        "head_lr_mult": Param(10.0, 0.01, 1000.0, log=True, search=(1.0, 100.0),
                              help="head learning rate / backbone learning rate"),
        "head": HEAD_PARAM,
        **BN_PARAMS,
    }

    # ------------------------------------------------------------------ hooks
    def setup(self, model: Classifier, task: Task) -> None:
        """Called once before training (e.g. to record the starting weights)."""

    def param_groups(self, model: Classifier) -> list[dict[str, Any]]:
        """Optimizer groups: the backbone at ``lr``, the head at ``lr * head_lr_mult``."""
        return [{"params": model.backbone_parameters(), "lr": self.lr},
                {"params": head_parameters(model), "lr": self.lr * self.head_lr_mult}]

    def extra_loss(self, model: Classifier, feats: Tensor, logits: Tensor, info: StepInfo) -> Tensor | None:
        """An extra loss term for one batch (None: plain cross-entropy)."""
        return None

    def train_modules_hook(self, model: Classifier) -> None:
        """Called before each batch's forward pass, after the trainer set train mode.

        With ``bn_mode="frozen"`` every batch-norm layer is put back in eval mode.
        """
        if self.bn_mode == "frozen":
            bn_eval([model])

    def adapt_statistics(self, model: Classifier, task: Task) -> None:
        """AdaBN on the unlabelled pool (``bn_adapt="pool"``); recorded in ``info_``."""
        self.info_["bn_adapted_on"] = maybe_adapt_bn(model, task, self.bn_adapt, self.seed)
        self.info_["bn_mode"] = self.bn_mode

    # ------------------------------------------------------------------ fit
    def build_model(self, task: Task, source: Any) -> Classifier:
        """The source model adapted to ``task``; adds the adaptation report to ``info_``."""
        model, report = source_model(task, source, self.head, progress=self.progress)
        self.info_.update(report)
        return model

    def _fit(self, task: Task, source: Any) -> None:
        torch.manual_seed(self.seed)
        model = self.build_model(task, source)
        self.adapt_statistics(model, task)
        self.setup(model, task)
        self.history_ = self.train(model, task, self.param_groups(model), description=self.name)
        self.model_ = model

    def train(self, model: Classifier, task: Task, groups: list[dict[str, Any]], *,
              description: str, **config_overrides: Any) -> Any:
        """Train ``model`` on the task's labelled split with this strategy's loss."""
        smoothing = self.label_smoothing

        def step(m: nn.Module, xb: Any, yb: Tensor, info: StepInfo) -> Tensor:
            self.train_modules_hook(model)
            feats = model.features(xb)
            logits = model.head(feats)  # type: ignore[misc]
            loss = F.cross_entropy(logits, yb, label_smoothing=smoothing)
            extra = self.extra_loss(model, feats, logits, info)
            return loss if extra is None else loss + extra

        groups = [g for g in groups if g["params"]]
        trainer = Trainer(model, self.train_config(**config_overrides), param_groups=groups, step_fn=step)
        return trainer.fit(task.x_train, task.y_train, val=validation_data(task), description=description)
