"""Input normalization statistics computed from a task's training split."""

from __future__ import annotations

import torch

from warmstart.backbones.classifier import InputSpec
from warmstart.tasks._scaler import convert
from warmstart.tasks._task import Task


def input_spec_for(task: Task) -> InputSpec:
    """Per-channel mean/std of the training images (image tasks); the task's standardization (tabular).

    Tabular tasks are already standardized by their loaders: the spec records how
    (:attr:`InputSpec.feature_mean`), so raw rows and other tables can be put in that scale.
    Text is tokenized by its backbone.
    """
    if task.modality == "tabular" and task.scaler is not None:
        return InputSpec("tabular", feature_mean=list(task.scaler.mean), feature_std=list(task.scaler.std))
    if task.modality != "image" or not isinstance(task.x_train, torch.Tensor):
        return InputSpec(modality=task.modality)
    x = task.x_train
    mean = x.mean(dim=(0, 2, 3))
    std = x.std(dim=(0, 2, 3)).clamp_min(1e-3)
    return InputSpec("image", [float(v) for v in mean], [float(v) for v in std],
                     (int(x.shape[2]), int(x.shape[3])))


def model_inputs(model: torch.nn.Module, task: Task, x: object) -> object:
    """``x``, inputs of ``task`` (in its standardization), as ``model`` takes them: a table's rows moved into the
    standardization the model records (``input_spec.scaler``); anything else unchanged."""
    spec = getattr(model, "input_spec", None)
    return convert(x, task.scaler, spec.scaler if spec is not None else None)
