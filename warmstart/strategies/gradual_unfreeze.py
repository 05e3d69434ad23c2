"""``gradual_unfreeze``: train the head first, then unfreeze the backbone stage by stage from the top.

Howard & Ruder, "Universal Language Model Fine-tuning for Text Classification",
ACL 2018 (gradual unfreezing); the two-phase "freeze, then unfreeze" recipe is
the special case ``phases=1, stages_per_phase=all``.

Phase 0 trains the head with the backbone frozen; batch-norm layers of frozen
stages are kept in eval mode, or their running statistics would drift on the
few target images. Each later phase unfreezes ``stages_per_phase`` more stages
from the top, at a lower learning rate (``lr * unfreeze_lr_mult``) than the head
phase, with the head (and any neck) kept at the head rate. The training budget (``epochs``,
``min_steps``) is split evenly across phases.

The head phase trains on cached features (:mod:`warmstart.strategies._frozen_features`)
when nothing makes them differ from batch to batch: no image augmentation applies (text
and tabular inputs are never augmented; images with ``augment="none"``) and the neck has
no parameters to train. The frozen backbone then runs once per image (and once per search
trial in a process that has seen those images before), in eval mode: dropout and
stochastic depth off, as at prediction time. With augmentation on, every epoch's inputs
are new and the head phase runs through the whole model, as later phases do
(``info_["head_phase"]`` says which).

Defaults: head phase at lr 1e-2, unfrozen stages at 1e-3 (×0.1), every stage
unfrozen by the end, one stage per phase; checked on mnist5k-a →
mnist5k-b-noisy, not on the benchmark targets.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch

from warmstart.backbones.classifier import Classifier
from warmstart.engine.device import resolve_device
from warmstart.engine.trainer import History
from warmstart.strategies._bn import maybe_adapt_bn
from warmstart.strategies._frozen_features import frozen_key, train_head
from warmstart.strategies._params import Param
from warmstart.strategies._source_finetune import (
    SourceFinetune,
    bn_eval,
    freeze,
    head_parameters,
    stages_in_use,
)
from warmstart.tasks._task import Task


class GradualUnfreeze(SourceFinetune):
    """Head first (backbone frozen, its batch norm in eval mode), then one more stage per phase."""

    name = "gradual_unfreeze"
    paper = "Howard & Ruder, Universal Language Model Fine-tuning for Text Classification, ACL 2018"
    summary = "head first, then unfreeze stages from the top"
    params: ClassVar[dict[str, Param]] = {
        **{k: v for k, v in SourceFinetune.params.items() if k != "head_lr_mult"},
        "lr": Param(1e-2, 1e-7, 10.0, log=True, search=(1e-3, 1e-1), help="learning rate of the head phase"),
        "unfreeze_lr_mult": Param(0.1, 1e-4, 1.0, log=True, search=(0.01, 1.0),
                                  help="learning rate of unfrozen stages / head-phase learning rate"),
        "phases": Param(-1, -1, 1000, help="unfreezing phases after the head phase (-1: until all are unfrozen)"),
        "stages_per_phase": Param(1, 1, 1000, help="stages unfrozen per phase"),
    }

    #: train the head phase on cached features when valid (see the module docstring)
    cache_head_phase: ClassVar[bool] = True

    def _fit(self, task: Task, source: Any) -> None:
        torch.manual_seed(self.seed)  # the new head's initialization
        model = self.build_model(task, source)
        self.info_["bn_adapted_on"] = maybe_adapt_bn(model, task, self.bn_adapt, self.seed,
                                                     cache_key=frozen_key(model, self.info_))
        self.info_["bn_mode"] = self.bn_mode
        stages = stages_in_use(model)
        n = len(stages)
        phases = math.ceil(n / self.stages_per_phase) if self.phases < 0 else self.phases
        total_phases = phases + 1
        epochs = max(1, math.ceil(self.epochs / total_phases))
        min_steps = math.ceil(self.min_steps / total_phases)
        history = History()
        phases_info: list[dict[str, Any]] = []
        for phase in range(total_phases):
            k = min(n, phase * self.stages_per_phase)  # stages unfrozen (from the top)
            frozen, trainable = stages[:n - k], stages[n - k:]
            freeze(frozen, True)
            freeze(trainable, False)
            self._frozen = frozen
            groups = [{"params": head_parameters(model) + list(model.neck.parameters()), "lr": self.lr}]
            if trainable:
                groups.append({"params": [p for s in trainable for p in s.parameters()],
                               "lr": self.lr * self.unfreeze_lr_mult})
            description = f"{self.name} phase {phase}"
            hist = None
            if not trainable:
                hist = self._cached_head_phase(model, task, groups, description, epochs=epochs,
                                               min_steps=min_steps, seed=self.seed + phase)
            if hist is None:
                hist = self.train(model, task, groups, description=description,
                                  epochs=epochs, min_steps=min_steps, seed=self.seed + phase)
            history.epochs.extend({**e, "phase": phase} for e in hist.epochs)
            history.steps += hist.steps
            history.seconds += hist.seconds
            phases_info.append({"phase": phase, "unfrozen_stages": k, "steps": hist.steps})
        freeze(stages, False)
        self._frozen = []
        self.info_["phases"] = phases_info
        self.history_ = history
        self.model_ = model

    def _cached_head_phase(self, model: Classifier, task: Task, groups: list[dict[str, Any]], description: str,
                           **config: Any) -> History | None:
        """The head phase on cached features, or None when caching is not valid here (then train normally)."""
        augmented = task.modality == "image" and self.augment != "none"
        key = frozen_key(model, self.info_, int(self.info_.get("bn_adapted_on", 0)), pool=task.x_unlabeled,
                         seed=self.seed)
        if not self.cache_head_phase or augmented or key is None or any(True for _ in model.neck.parameters()):
            self.info_["head_phase"] = "augmented: through the backbone" if augmented else "through the backbone"
            return None
        device = resolve_device(self.device)
        model.to(device)
        hist = train_head(model, task, key, self.train_config(**config), groups, description=description)
        self.info_["head_phase"] = "cached features" if hist is not None else "through the backbone"
        return hist

    def train_modules_hook(self, model: Classifier) -> None:
        super().train_modules_hook(model)
        bn_eval(self._frozen)
