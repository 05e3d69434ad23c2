"""Input normalization statistics computed from a task's training split."""

from __future__ import annotations

import torch

from warmstart.backbones.classifier import InputSpec
from warmstart.tasks._task import Task


def input_spec_for(task: Task) -> InputSpec:
    """Per-channel mean/std of the training images (image tasks); no-op spec otherwise.

    Tabular tasks are already standardized by their loaders; text is tokenized by
    its backbone.
    """
    if task.modality != "image" or not isinstance(task.x_train, torch.Tensor):
        return InputSpec(modality=task.modality)
    x = task.x_train
    mean = x.mean(dim=(0, 2, 3))
    std = x.std(dim=(0, 2, 3)).clamp_min(1e-3)
    return InputSpec("image", [float(v) for v in mean], [float(v) for v in std],
                     (int(x.shape[2]), int(x.shape[3])))
