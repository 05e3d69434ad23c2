"""What the self-supervised pretraining methods share: the MLP heads and the resumable run.

:func:`mlp_head` builds SimCLR's projection head and BYOL's projector and predictor;
:func:`run_ssl` trains a model with a method's step function (resumable from
``out/.resume``, with the Trainer's progress bar), standardizes the encoder's features
(:func:`~warmstart.pretraining._feature_scale.standardize_features`) and saves the encoder
alone as an ordinary head-less checkpoint.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from warmstart.backbones.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from warmstart.backbones.classifier import Classifier
from warmstart.engine.callbacks import Callback
from warmstart.engine.config import TrainConfig
from warmstart.engine.trainer import StepFn, Trainer
from warmstart.errors import ConfigError
from warmstart.pretraining._feature_scale import standardize_features
from warmstart.pretraining._resume import resume_into
from warmstart.pretraining.supervised import RESUME_DIR, _SaveResume


def mlp_head(in_dim: int, hidden: int, out_dim: int, layers: int = 2) -> nn.Sequential:
    """``layers − 1`` blocks of Linear → BatchNorm → ReLU, then a Linear to ``out_dim``.

    Raises:
        ConfigError: ``layers`` < 2 or a size < 1.
    """
    if layers < 2:
        raise ConfigError(f"a projection head has at least 2 layers, got {layers}")
    if min(in_dim, hidden, out_dim) < 1:
        raise ConfigError(f"head sizes must be >= 1, got hidden={hidden}, out={out_dim}")
    mods: list[nn.Module] = []
    dim = in_dim
    for _ in range(layers - 1):
        mods += [nn.Linear(dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True)]
        dim = hidden
    mods.append(nn.Linear(dim, out_dim))
    return nn.Sequential(*mods)


def ssl_config(config: TrainConfig | None, default: TrainConfig) -> TrainConfig:
    """The run's config (``default`` when None) with the Trainer's own augmentation off.

    Raises:
        ConfigError: batch size below 2 (batch-norm heads and in-batch negatives need pairs).
    """
    config = config or default
    if config.batch_size < 2:
        raise ConfigError(f"self-supervised pretraining needs batch_size >= 2, got {config.batch_size}")
    return dataclasses.replace(config, augment="none")


def run_ssl(model: nn.Module, encoder: Classifier, x: Tensor, config: TrainConfig, step_fn: StepFn,
            out: Path, *, method: str, source_task: str, loss_name: str, extra: dict[str, Any],
            resume: bool = False, standardize: bool = True,
            callbacks: Callable[[Trainer], Sequence[Callback]] | None = None) -> Checkpoint:
    """Train ``model`` on ``x`` with ``step_fn``; save ``encoder`` (a part of it) as a head-less checkpoint.

    Every epoch writes a resumable state to ``out/.resume`` (removed once the checkpoint is
    written); ``resume=True`` continues from it.

    Args:
        model: The whole trained module (encoder, heads, any target network).
        encoder: The head-less classifier inside ``model`` that is kept.
        x: Unlabelled training images.
        config: Training settings (its ``augment`` should be ``none``: the step makes the views).
        step_fn: A Trainer step function returning the loss of one batch.
        out: Checkpoint folder (already checked by the caller).
        method: Method name recorded in the checkpoint.
        source_task: The pooled tasks' names recorded as the source task.
        loss_name: Name of the final training loss in ``metrics["train"]``.
        extra: Method settings recorded in the checkpoint's ``extra``.
        resume: Continue an interrupted run from ``out/.resume``.
        standardize: Fold per-channel feature standardization into the encoder (see
            :func:`~warmstart.pretraining._feature_scale.standardize_features`).
        callbacks: Builds extra callbacks from the Trainer (e.g. a momentum-encoder update).

    Returns:
        The saved checkpoint, loaded back (hash verified).

    Raises:
        CheckpointError: ``resume`` without a resumable state, or one from another run.
        TrainingDivergedError: the loss became NaN or infinite.
    """
    trainer = Trainer(model, config, step_fn=step_fn)
    resume_dir = out / RESUME_DIR
    if resume:
        resume_into(model, trainer, resume_dir, out, "other method, backbone or options?")
    # the resumable state is written before any other callback (an ambient one may interrupt)
    trainer.callbacks.insert(0, _SaveResume(trainer, resume_dir))
    if callbacks is not None:
        trainer.callbacks.extend(callbacks(trainer))
    dummy = torch.zeros(len(x), dtype=torch.long)
    hist = trainer.fit(x, dummy, description=f"{method} {source_task}")
    final = hist.epochs[-1]["train_loss"] if hist.epochs else None
    standardized = standardize_features(encoder, x) if standardize else False
    meta = {"method": method, "train_config": config.to_json(), **extra, "n_images": len(x),
            "feature_standardized": standardized, "history": hist.epochs}
    save_checkpoint(encoder, out, classes=None, source_task=source_task,
                    metrics={"train": {loss_name: final}}, extra=meta)
    shutil.rmtree(resume_dir, ignore_errors=True)
    return load_checkpoint(out)
