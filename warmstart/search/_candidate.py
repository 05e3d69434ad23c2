"""Training one NAS candidate: frozen prefix on cached features, the rest trained, scored on validation.

A candidate is a :class:`~warmstart.backbones.classifier.Classifier` whose first
``freeze`` stages are frozen. Their output is computed once per distinct frozen
prefix (keyed by a hash of the prefix weights, the cut depth and the split,
through :mod:`warmstart.engine.feature_cache`), so candidates that share a
frozen prefix train only their tail — the unfrozen stages, the neck and the head
— on cached features.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from warmstart.backbones.classifier import Classifier
from warmstart.engine.callbacks import Callback
from warmstart.engine.config import TrainConfig
from warmstart.engine.evaluate import classification_metrics, predict_proba
from warmstart.engine.feature_cache import FeatureCache
from warmstart.engine.trainer import Trainer
from warmstart.errors import ConfigError
from warmstart.tasks._task import Task, take


class OutOfBudget(Exception):
    """Raised inside a trial when the search's wall-time budget runs out."""


@dataclass
class SearchData:
    """The labelled data a search may use: its own train and validation parts."""

    x_train: Any
    y_train: Tensor
    x_val: Any
    y_val: Tensor
    key: str

    @classmethod
    def from_task(cls, task: Task, seed: int = 0, val_fraction: float = 0.3) -> SearchData:
        """The task's validation split, or (few-shot protocol) a stratified part of its labelled examples.

        Raises:
            ConfigError: some class has fewer than 2 labelled examples to split.
        """
        if task.x_val is not None and task.y_val is not None and len(task.y_val) > 0:
            return cls(task.x_train, task.y_train, task.x_val, task.y_val, f"{task.name}|val")
        gen = torch.Generator().manual_seed(int(seed))
        tr, va = [], []
        for c in range(task.n_classes):
            idx = torch.nonzero(task.y_train == c).flatten()
            if len(idx) < 2:
                raise ConfigError(f"task {task.name!r}: class {task.classes[c]!r} has {len(idx)} labelled "
                                  "example(s); a search needs at least 2 per class (one to validate)")
            idx = idx[torch.randperm(len(idx), generator=gen)]
            k = max(1, round(len(idx) * val_fraction))
            va.append(idx[:k])
            tr.append(idx[k:])
        tri, vai = torch.cat(tr), torch.cat(va)
        return cls(take(task.x_train, tri), task.y_train[tri], take(task.x_train, vai), task.y_train[vai],
                   f"{task.name}|shots={task.shots}|seed={seed}")


def prefix_key(model: Classifier, freeze: int) -> str:
    """Hash of what the frozen prefix computes: input preparation and the first ``freeze`` stages' weights."""
    h = hashlib.sha256(repr((model.input_spec.to_json(), model.backbone.spec.to_json(), freeze)).encode())
    for stage in model.backbone.stages[:freeze]:
        for k, v in stage.state_dict().items():
            h.update(k.encode())
            h.update(v.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:32]


class Tail(nn.Module):
    """The trainable part of a candidate: stages ``freeze..cut-1``, neck, pooling, head."""

    def __init__(self, model: Classifier, freeze: int) -> None:
        super().__init__()
        self.model, self.freeze = model, freeze

    def forward(self, h: Tensor) -> Tensor:
        m = self.model
        h = m.backbone.forward_stages(h, self.freeze, m.depth)
        assert m.head is not None
        return m.head(m.backbone.pool(m.neck(h)))


class _Prefix(nn.Module):
    """The frozen prefix as the feature cache sees it: input preparation and the backbone, no neck."""

    def __init__(self, model: Classifier) -> None:
        super().__init__()
        self.backbone = model.backbone
        self._model = [model]  # not a submodule

    def prepare(self, x: Any) -> Any:
        return self._model[0].prepare(x)


class _Deadline(Callback):
    def __init__(self, deadline: float | None) -> None:
        self.deadline = deadline

    def on_epoch_end(self, epoch: int, logs: dict[str, Any], model: Any) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise OutOfBudget


def freeze_stages(model: Classifier, freeze: int) -> None:
    """Freeze the first ``freeze`` stages (no gradients; eval mode while they run)."""
    for i, stage in enumerate(model.backbone.stages):
        for p in stage.parameters():
            p.requires_grad_(i >= freeze)


def train_candidate(model: Classifier, freeze: int, data: SearchData, config: TrainConfig,
                    cache: FeatureCache, *, deadline: float | None = None) -> dict[str, float]:
    """Train ``model``'s tail on cached frozen features; return validation metrics.

    Args:
        model: The candidate (trained in place; its frozen stages stay as they are).
        freeze: Number of frozen stages (``<= cut``).
        data: Search train/validation data.
        config: Training settings.
        cache: Feature cache for frozen prefixes.
        deadline: ``time.monotonic()`` value after which training stops (raises :class:`OutOfBudget`).

    Returns:
        ``val_accuracy``, ``val_error``, ``val_loss`` and ``train_seconds``.
    """
    t0 = time.perf_counter()
    model = model.to("cpu")
    freeze_stages(model, freeze)
    key = prefix_key(model, freeze)
    prefix = _Prefix(model)
    ftr = cache.get(prefix, data.x_train, model_key=key, depth=freeze, data_key=data.key + "|train", pooled=False)
    fva = cache.get(prefix, data.x_val, model_key=key, depth=freeze, data_key=data.key + "|val", pooled=False)
    tail = Tail(model, freeze)
    trainer = Trainer(tail, config, callbacks=[_Deadline(deadline)])
    trainer.fit(ftr, data.y_train, val=(fva, data.y_val), description="candidate")
    m = classification_metrics(predict_proba(tail, fva), data.y_val)
    for p in model.parameters():
        p.requires_grad_(True)
    return {"val_accuracy": m["accuracy"], "val_error": 1.0 - m["accuracy"], "val_loss": m["nll"],
            "train_seconds": time.perf_counter() - t0}
