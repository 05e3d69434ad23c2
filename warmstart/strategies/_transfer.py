"""Shared steps of transfer strategies: build the target model from a source, validation data."""

from __future__ import annotations

from typing import Any

from warmstart.backbones.adapt import adapt_to_task
from warmstart.backbones.checkpoint import build_model
from warmstart.backbones.classifier import Classifier
from warmstart.backbones.input_stats import input_spec_for
from warmstart.backbones.new_model import new_model
from warmstart.engine.seeding import seed_everything
from warmstart.errors import ConfigError, IncompatibleError
from warmstart.source import Source
from warmstart.tasks._task import Task


def source_model(task: Task, source: Source | None, head: str = "auto", *,
                 progress: bool = True) -> tuple[Classifier, dict[str, Any]]:
    """The source's pretrained model adapted to ``task`` (channels, resolution, head).

    Raises:
        ConfigError: no source was given.
    """
    if source is None:
        raise ConfigError("this strategy transfers from a source: give --source PATH or --source-task NAME")
    import torch

    with torch.random.fork_rng(devices=[]):  # loading (or importing) the source draws no numbers of the caller's
        ckpt = source.fresh_checkpoint(progress)  # stream: a new head starts alike in every fit of a process
    try:
        model, report = adapt_to_task(ckpt.model, task, ckpt.classes, head)
    except IncompatibleError as exc:  # name both sides
        raise IncompatibleError(f"source {source.describe()} (trained on {ckpt.meta.get('source_task')!r}): "
                                f"{exc}") from None
    report["source"] = source.describe()
    report["source_sha256"] = ckpt.sha256
    return model, report


def scratch_model(task: Task, source: Source | None, seed: int) -> tuple[Classifier, dict[str, Any]]:
    """A randomly initialized model: the source's architecture when there is one, else the default."""
    seed_everything(seed)
    if source is not None and source.has_checkpoint:
        meta = source.checkpoint().meta
        model = build_model({**meta, "n_classes": task.n_classes,
                             "input": input_spec_for(task).to_json()})
        if meta["backbone"]["in_chans"] != (task.input_shape[0] if task.input_shape else 0):
            model, _ = adapt_to_task(model, task, None, "new")
        model.replace_head(task.n_classes)
        return model, {"head": "new", "adapted": [], "architecture": meta["backbone"]["name"]}
    model = new_model(task)
    return model, {"head": "new", "adapted": [], "architecture": model.backbone.spec.name}


def validation_data(task: Task) -> tuple[Any, Any] | None:
    """The labelled validation split when the task has one (never under the few-shot protocol)."""
    if task.x_val is not None and task.y_val is not None and len(task.y_val) > 0:
        return task.x_val, task.y_val
    return None
