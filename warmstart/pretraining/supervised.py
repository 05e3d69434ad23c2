"""Supervised pretraining of a backbone on a source task.

Trains a classifier on the source task's labelled training split, selects the
best epoch on its validation split, evaluates on its test split, and writes an
ordinary checkpoint. A resumable state is written every epoch into
``OUT/.resume/``; ``resume=True`` continues an interrupted run from it, and it
is removed once the checkpoint is written.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from warmstart.backbones.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from warmstart.backbones.new_model import new_model
from warmstart.engine.callbacks import Callback
from warmstart.engine.config import TrainConfig
from warmstart.engine.evaluate import evaluate
from warmstart.engine.seeding import seed_everything
from warmstart.engine.trainer import Trainer
from warmstart.errors import ConfigError
from warmstart.pretraining._resume import resume_into, save_state
from warmstart.tasks._task import Task

RESUME_DIR = ".resume"


def check_output_folder(out: Path) -> None:
    """Refuse to write a checkpoint over a folder that is neither a checkpoint nor empty.

    Raises:
        ConfigError: ``out`` is a file, or a non-empty folder of something else.
    """
    if out.is_file():
        raise ConfigError(f"output {out} is a file; give a folder for the checkpoint")
    if out.is_dir():
        names = {p.name for p in out.iterdir()}
        if names and not names <= {"meta.json", "model.safetensors", RESUME_DIR}:
            raise ConfigError(f"output folder {out} is not empty and not a checkpoint; refusing to overwrite it")


class _SaveResume(Callback):
    def __init__(self, trainer: Trainer, folder: Path) -> None:
        self.trainer, self.folder = trainer, folder

    def on_epoch_end(self, epoch: int, logs: dict[str, Any], model: Any) -> None:
        save_state(self.folder, {"model": model.state_dict(), "trainer": self.trainer.state_dict(),
                                 "epoch": epoch})


def pretrain_supervised(task: Task, out: str | Path, *, backbone: str | None = None,
                        config: TrainConfig | None = None, resume: bool = False,
                        weights: str | None = None, callbacks: Sequence[Callback] = (),
                        **backbone_kwargs: Any) -> Checkpoint:
    """Pretrain on ``task`` and save a checkpoint folder at ``out``.

    Args:
        task: Source task with labelled train and validation splits.
        out: Checkpoint folder to write (atomically).
        backbone: Backbone name (default by modality).
        config: Training settings (default: 10 epochs, AdamW 3e-3, light augmentation).
        resume: Continue from ``out/.resume`` if an interrupted run left it there.
        weights: Local pretrained weights for adapter backbones (``timm:``).
        callbacks: Extra per-epoch callbacks (e.g. pruning); they run after the resumable
            state of the epoch is saved, so an interruption there loses nothing.

    Returns:
        The saved checkpoint, loaded back (hash verified).
    """
    config = config or TrainConfig(epochs=10, lr=3e-3, augment="light" if task.modality == "image" else "none")
    out = Path(out)
    check_output_folder(out)
    resume_dir = out / RESUME_DIR
    seed_everything(config.seed)
    model = new_model(task, backbone, weights, **backbone_kwargs)
    trainer = Trainer(model, config)
    if resume:
        resume_into(model, trainer, resume_dir, out, "other backbone, task or options?")
    trainer.callbacks.append(_SaveResume(trainer, resume_dir))
    trainer.callbacks.extend(callbacks)
    val = (task.x_val, task.y_val) if task.x_val is not None and task.y_val is not None else None
    hist = trainer.fit(task.x_train, task.y_train, val=val, eval_every=1,
                       description=f"pretrain {task.name}")
    metrics = evaluate(model, task.x_test, task.y_test, device=trainer.device)
    extra = {"train_config": config.to_json(), "history": hist.epochs, "best_epoch": hist.best_epoch,
             "method": "supervised"}
    save_checkpoint(model, out, classes=task.classes, source_task=task.name,
                    metrics={"test": metrics}, extra=extra)
    shutil.rmtree(resume_dir, ignore_errors=True)
    return load_checkpoint(out)
