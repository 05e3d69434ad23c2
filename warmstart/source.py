"""The Source: where a transfer's knowledge comes from.

A source is a checkpoint folder (weights + metadata), a source task (data, for
methods that train on it: multi-task, domain adaptation, meta-learning), or
both. With only a source task, :meth:`Source.checkpoint` pretrains a model on it
first (cached under ``$WARMSTART_CACHE``, default ``~/.cache/warmstart``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from warmstart._paths import cache_dir
from warmstart.backbones.checkpoint import Checkpoint, load_checkpoint
from warmstart.errors import ConfigError
from warmstart.tasks._registry import load_task
from warmstart.tasks._task import Task


@dataclass
class Source:
    """A checkpoint, a source task, or both.

    Attributes:
        path: Checkpoint folder, or None.
        task_name: Source task name or path, or None.
        backbone: Backbone for pretraining when only a task is given.
        pretrain_epochs: Epochs for that pretraining.
        seed: Seed for that pretraining.
    """

    path: Path | None = None
    task_name: str | None = None
    backbone: str | None = None
    pretrain_epochs: int = 10
    seed: int = 0
    device: str = "auto"
    _ckpt: Checkpoint | None = field(default=None, repr=False)
    _task: Task | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.path is None and self.task_name is None:
            raise ConfigError("a source needs a checkpoint (--source PATH) or a source task (--source-task NAME)")
        if self.path is not None:
            self.path = Path(self.path)

    @classmethod
    def from_options(cls, source: str | Path | None = None, source_task: str | None = None,
                     **kwargs: Any) -> Source | None:
        """Build from CLI-style options; None when neither is given."""
        if source is None and source_task is None:
            return None
        return cls(Path(source) if source is not None else None, source_task, **kwargs)

    @classmethod
    def from_checkpoint(cls, ckpt: Checkpoint) -> Source:
        """Wrap an already loaded checkpoint."""
        src = cls(path=ckpt.path, task_name=None)
        src._ckpt = ckpt
        return src

    @property
    def has_checkpoint(self) -> bool:
        """Whether a checkpoint was given."""
        return self.path is not None or self._ckpt is not None

    def task(self) -> Task:
        """The source task (loaded once).

        Raises:
            ConfigError: no source task was given.
        """
        if self._task is None:
            if self.task_name is None:
                raise ConfigError("this method trains on source data: give --source-task NAME")
            self._task = load_task(self.task_name)
        return self._task

    def checkpoint(self, progress: bool = True, *, deadline: float | None = None) -> Checkpoint:
        """The source checkpoint: loaded from ``path``, or pretrained on the source task once and cached.

        A pretraining is announced with one line on stderr (it can take minutes); a cached
        one is reused silently. ``deadline`` (a ``time.monotonic()`` value) bounds a
        pretraining (:class:`~warmstart.search.budget.DeadlineStop`: no epoch is started
        that is predicted not to finish, and training stops at the step where the time
        runs out); a pretraining cut short is cached under its own key, with the steps
        actually trained, so it is never taken for a full one.
        """
        if self._ckpt is None:
            if self.path is not None:
                self._ckpt = load_checkpoint(self.path)
            else:
                self._ckpt = self._pretrain(progress, deadline=deadline)
        return self._ckpt

    def fresh_checkpoint(self, progress: bool = True) -> Checkpoint:
        """A newly loaded copy (strategies modify their model in place)."""
        ckpt = self.checkpoint(progress)
        return load_checkpoint(ckpt.path)

    def _pretrain(self, progress: bool, *, deadline: float | None = None) -> Checkpoint:
        from warmstart.engine.config import TrainConfig
        from warmstart.pretraining.supervised import pretrain_supervised

        task = self.task()
        key = f"{task.name}|{self.backbone}|{self.pretrain_epochs}|{self.seed}"
        out = cache_dir() / "sources" / hashlib.sha256(key.encode()).hexdigest()[:16]
        if (out / "meta.json").exists():
            try:
                return load_checkpoint(out)
            except Exception:  # a corrupt cache entry is rebuilt
                pass
        limit = "" if deadline is None else f" at most, as many as fit in {max(0.0, deadline - time.monotonic()):.0f} s"
        print(f"pretraining a source model on {task.name} ({self.pretrain_epochs} epochs{limit}; cached for next "
              "time)...", file=sys.stderr, flush=True)
        cfg = TrainConfig(epochs=self.pretrain_epochs, lr=3e-3, seed=self.seed, device=self.device,
                          augment="light" if task.modality == "image" else "none", progress=progress)
        if deadline is None:
            return pretrain_supervised(task, out, backbone=self.backbone, config=cfg)
        from warmstart.search.budget import DeadlineStop

        stop, part = DeadlineStop(deadline), out.with_name(f"{out.name}.part-{os.getpid()}")
        shutil.rmtree(part, ignore_errors=True)
        pretrain_supervised(task, part, backbone=self.backbone, config=cfg, callbacks=[stop])
        if stop.stopped_at_step is not None:  # cut short: its own cache entry, never taken for the full one
            key += f"|stopped-at-step-{stop.stopped_at_step}"
            out = cache_dir() / "sources" / hashlib.sha256(key.encode()).hexdigest()[:16]
        shutil.rmtree(out, ignore_errors=True)
        os.replace(part, out)
        return load_checkpoint(out)

    def describe(self) -> str:
        """One line for reports."""
        parts = []
        if self.path is not None:
            parts.append(f"checkpoint {self.path}")
        if self.task_name is not None:
            parts.append(f"source task {self.task_name}")
        return " + ".join(parts)
