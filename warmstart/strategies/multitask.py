"""``multitask``: joint training on source and target data, shared backbone, one head per task.

Caruana, "Multitask Learning", Machine Learning 28, 1997 (hard parameter
sharing). Each step draws a target batch and a source batch of the same size;
the loss is CE_target + ``source_weight`` · CE_source, each through its own head
on the shared backbone. The backbone starts from the source checkpoint (given,
or pretrained on ``--source-task``); the source head starts from the source
classifier when the checkpoint's classes are the source task's, and the target
head is reused or new as for every strategy (``head``).

Source images are matched to the target's input layout first (channels averaged
or repeated, resized to the target resolution), since the shared backbone has
been adapted to the target. Needs ``--source-task``.

Defaults: source_weight 0.5, other settings as ``finetune``.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from warmstart.backbones.adapt import adapt_to_task
from warmstart.backbones.classifier import Classifier
from warmstart.engine.augment import augment_images
from warmstart.engine.trainer import StepInfo
from warmstart.errors import ConfigError, IncompatibleError
from warmstart.strategies._params import Param
from warmstart.strategies._source_finetune import SourceFinetune
from warmstart.tasks._task import Task, take


def match_inputs(x: Tensor, shape: tuple[int, ...]) -> Tensor:
    """Bring N×C×H×W images to the target's (C, H, W): channels averaged or repeated, then resized."""
    c, h, w = shape
    if x.shape[1] != c:
        x = x.mean(1, keepdim=True) if c == 1 else x.mean(1, keepdim=True).expand(-1, c, -1, -1)
    if tuple(x.shape[-2:]) != (h, w):
        x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)
    return x.contiguous()


class Multitask(SourceFinetune):
    """Shared backbone, a source head and a target head, trained jointly."""

    name = "multitask"
    paper = "Caruana, Multitask Learning, Machine Learning 28(1), 1997"
    summary = "joint training on source and target data, one head per task"
    needs_source_task = True
    params: ClassVar[dict[str, Param]] = {
        **SourceFinetune.params,
        "source_weight": Param(0.5, 0.0, 100.0, search=(0.05, 2.0), log=True,
                               help="weight of the source task's loss"),
    }

    def build_model(self, task: Task, source: Any) -> Classifier:
        if source is None or source.task_name is None:
            raise ConfigError("multitask trains on source data: give --source-task NAME")
        src_task = source.task()
        if src_task.modality != task.modality:
            raise IncompatibleError(f"source task {src_task.name!r} is {src_task.modality} but target "
                                    f"{task.name!r} is {task.modality}")
        ckpt = source.fresh_checkpoint(self.progress)
        src_head = (copy.deepcopy(ckpt.model.head)
                    if ckpt.classes is not None and list(ckpt.classes) == list(src_task.classes)
                    and ckpt.model.head is not None else None)
        model, report = adapt_to_task(ckpt.model, task, ckpt.classes, self.head)
        report["source"] = source.describe()
        report["source_sha256"] = ckpt.sha256
        self.info_.update(report)
        if src_head is None:
            from warmstart.backbones.classifier import build_head

            src_head = build_head(model.feature_dim, src_task.n_classes, model.head_spec)
        self.source_head_ = src_head.to(next(model.parameters()).device)
        model.add_module("source_head", self.source_head_)  # trained and moved with the model
        xs = src_task.x_train
        if task.modality == "image" and isinstance(xs, Tensor):
            xs = match_inputs(xs, tuple(task.input_shape))
        self._xs, self._ys = xs, src_task.y_train
        self.info_["source_task"] = src_task.name
        self.info_["source_head"] = "source classifier" if ckpt.classes == src_task.classes else "new"
        return model

    def param_groups(self, model: Classifier) -> list[dict[str, Any]]:
        groups = super().param_groups(model)
        groups.append({"params": list(self.source_head_.parameters()), "lr": self.lr * self.head_lr_mult})
        return groups

    def extra_loss(self, model: Classifier, feats: Tensor, logits: Tensor, info: StepInfo) -> Tensor | None:
        if self.source_weight == 0:
            return None
        n = max(2, feats.shape[0])
        idx = torch.randint(0, len(self._ys), (n,), generator=self._gen)
        xb = take(self._xs, idx)
        if isinstance(xb, Tensor):
            xb = xb.to(info.device)
            if xb.dim() == 4 and self.augment != "none":
                xb = augment_images(xb, self.augment, info.generator)
        src_logits = self.source_head_(model.features(xb))
        return self.source_weight * F.cross_entropy(src_logits, self._ys[idx].to(info.device))

    def _fit(self, task: Task, source: Any) -> None:
        self._gen = torch.Generator().manual_seed(self.seed + 7)
        super()._fit(task, source)
        # the fitted model predicts the target task only; keep the source head aside
        if hasattr(self.model_, "source_head"):
            del self.model_._modules["source_head"]
        self._xs = self._ys = None  # type: ignore[assignment]


