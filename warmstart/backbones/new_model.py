"""A new classifier for a task: the default backbone per modality, built with the task's input statistics.

Every place that needs "a fresh model for this task" (scratch baselines, pretraining,
meta-learning) calls :func:`new_model`, so the choice of default backbone and the input
normalization live in one place.
"""

from __future__ import annotations

from typing import Any

from warmstart.backbones._registry import create_backbone
from warmstart.backbones.classifier import Classifier
from warmstart.backbones.input_stats import input_spec_for
from warmstart.errors import ConfigError, IncompatibleError
from warmstart.tasks._task import Task

DEFAULT_BACKBONE = {"image": "smallcnn", "tabular": "mlp"}
def default_backbone(task: Task) -> str:
    """The backbone used when none is named: smallcnn for images, mlp for tabular data."""
    if task.modality not in DEFAULT_BACKBONE:
        raise ConfigError(f"task {task.name!r} is {task.modality}: name a backbone (e.g. hf:<model>)")
    return DEFAULT_BACKBONE[task.modality]


def check_backbone_modality(name: str, modality: str, task_name: str) -> None:
    """Refuse a backbone that cannot read the task's data before building it (text vs. images/tables).

    Raises:
        IncompatibleError: an ``hf:`` text encoder on image or tabular data, or another
            backbone on text data.
    """
    if name.startswith("hf:") and modality != "text":
        raise IncompatibleError(f"backbone {name} is a text encoder; task {task_name!r} is {modality} data "
                                f"(use smallcnn, resnet or timm:<name> for images, mlp for tables)")
    if not name.startswith("hf:") and modality == "text":
        raise IncompatibleError(f"backbone {name} does not read text; task {task_name!r} is text data "
                                f"(use hf:<model>)")


def new_model(task: Task, backbone: str | None = None, weights: str | None = None,
              **backbone_kwargs: Any) -> Classifier:
    """A classifier for ``task`` (inputs normalized with its train statistics).

    Its backbone is randomly initialized unless ``weights`` (or a ``timm:`` pretrained tag) says
    otherwise.

    Raises:
        IncompatibleError: the backbone cannot read the task's modality (e.g. ``hf:`` on images).
    """
    name = backbone or default_backbone(task)
    check_backbone_modality(name, task.modality, task.name)
    in_chans = task.input_shape[0] if task.modality in ("image", "tabular") else 0
    size = tuple(task.input_shape[1:3]) if task.modality == "image" else None
    bb = create_backbone(name, in_chans=in_chans, input_size=size, weights=weights,  # type: ignore[arg-type]
                         **backbone_kwargs)
    return Classifier(bb, task.n_classes, input_spec=input_spec_for(task))
