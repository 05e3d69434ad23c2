"""The Source: where a transfer's knowledge comes from.

A source is a checkpoint folder (weights + metadata), a model-zoo model
(``timm:NAME``, optionally with a local ``weights`` file, or ``hf:NAME|FOLDER``),
a source task (data, for methods that train on it: multi-task, domain adaptation,
meta-learning), or a model and a task together. With only a source task,
:meth:`Source.checkpoint` pretrains a model on it first; a zoo model is imported
once into an ordinary checkpoint (:func:`~warmstart.backbones.import_weights.import_weights`:
its pretrained head and class names when known, input size and normalization
from its pretrained configuration). Both are cached under ``$WARMSTART_CACHE``
(default ``~/.cache/warmstart``): a pretrained source keyed by a fingerprint of the
source task's training data (inputs, labels, classes; for a streamed image folder its
files' names, sizes and modification times), the backbone, epochs and seed, so two
folders with the same name do not share one and changed data gets a new one.
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
from warmstart.tasks._scaler import FeatureScaler
from warmstart.tasks._task import Task


@dataclass
class Source:
    """A checkpoint or a zoo model, a source task, or both.

    Attributes:
        path: Checkpoint folder, or None.
        task_name: Source task name or path, or None.
        zoo: A model-zoo name (``timm:NAME``, ``hf:NAME|FOLDER``), or None.
        weights: A local weights file for a ``timm:`` zoo model, or None (timm's own weights).
        input_size: Image size (H, W) for a ``timm:`` zoo model instead of its pretrained default.
        spec: The source as the user named it, when ``path`` is what it was turned into (e.g.
            ``timm:efficientnet_lite0 with weights lite0.pth``, imported into a cached checkpoint):
            shown by :meth:`describe` and in reports, never used for loading. None: ``describe``
            names what was given.
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
    zoo: str | None = None
    weights: str | None = None
    input_size: tuple[int, int] | None = None
    spec: str | None = None
    _ckpt: Checkpoint | None = field(default=None, repr=False)
    _task: Task | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        from warmstart.backbones.zoo import is_zoo_name

        if isinstance(self.path, str) and is_zoo_name(self.path) and self.zoo is None:
            self.path, self.zoo = None, str(self.path)
        if self.path is None and self.task_name is None and self.zoo is None:
            raise ConfigError("a source needs a checkpoint (--source PATH), a model-zoo name (--source timm:NAME "
                              "or hf:NAME) or a source task (--source-task NAME)")
        if self.path is not None and self.zoo is not None:
            raise ConfigError("give either a checkpoint folder or a model-zoo name as the source, not both")
        if self.zoo is not None and not is_zoo_name(self.zoo):
            raise ConfigError(f"{self.zoo!r} is not a model-zoo name; use timm:NAME or hf:NAME|FOLDER")
        if self.weights is not None:
            if self.zoo is None or not self.zoo.startswith("timm:"):
                raise ConfigError("--weights FILE goes with a timm model: --source timm:NAME --weights FILE")
            if not Path(self.weights).expanduser().is_file():
                raise ConfigError(f"weights file {self.weights} does not exist")
        if self.path is not None:
            self.path = Path(self.path)

    @classmethod
    def from_options(cls, source: str | Path | None = None, source_task: str | None = None,
                     **kwargs: Any) -> Source | None:
        """Build from CLI-style options; None when neither is given.

        ``source`` is a checkpoint folder or a zoo name (``timm:NAME``, ``hf:NAME|FOLDER``);
        ``kwargs`` may hold ``weights`` (a local file for a ``timm:`` name).
        """
        from warmstart.backbones.zoo import is_zoo_name

        if source is None and source_task is None:
            if kwargs.get("weights") is not None:
                raise ConfigError("--weights FILE goes with a timm model: --source timm:NAME --weights FILE")
            return None
        if is_zoo_name(source):
            return cls(None, source_task, zoo=str(source), **kwargs)
        return cls(Path(source) if source is not None else None, source_task, **kwargs)

    @classmethod
    def from_checkpoint(cls, ckpt: Checkpoint) -> Source:
        """Wrap an already loaded checkpoint."""
        src = cls(path=ckpt.path, task_name=None)
        src._ckpt = ckpt
        return src

    @property
    def has_checkpoint(self) -> bool:
        """Whether a checkpoint (or a zoo model, imported into one) was given."""
        return self.path is not None or self._ckpt is not None or self.zoo is not None

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
                self._ckpt = load_checkpoint(self.path, first_member=True)  # an ensemble's first member
            elif self.zoo is not None:
                self._ckpt = self._import_zoo()
            else:
                self._ckpt = self._pretrain(progress, deadline=deadline)
        return self._ckpt

    def input_scaler(self, progress: bool = True) -> FeatureScaler | None:
        """The standardization the source model takes tabular rows in, or None (not tabular, or unknown).

        A checkpoint's is in its metadata; a source given only as a task has its task's (the model
        pretrained on it records it), so nothing is pretrained to answer.
        """
        if self.zoo is not None:
            return None
        if self.has_checkpoint:
            return self.checkpoint(progress).model.input_spec.scaler
        return self.task().scaler

    def fresh_checkpoint(self, progress: bool = True) -> Checkpoint:
        """A newly loaded copy (strategies modify their model in place)."""
        ckpt = self.checkpoint(progress)
        return load_checkpoint(ckpt.path, first_member=True)

    def _import_zoo(self) -> Checkpoint:
        """The zoo model as a checkpoint, imported once into the cache (keyed by name and file bytes)."""
        from warmstart.backbones.import_weights import import_record, import_weights

        assert self.zoo is not None
        record = import_record(self.weights, self.zoo, self.input_size)
        if self.zoo.startswith("hf:"):
            record["folder"] = _folder_stamp(self.zoo[len("hf:"):])
        key = hashlib.sha256(repr(sorted(record.items())).encode()).hexdigest()[:16]
        out = cache_dir() / "zoo" / key
        if (out / "meta.json").exists():
            try:
                return load_checkpoint(out)
            except Exception:  # a corrupt cache entry is rebuilt
                pass
        ckpt = load_checkpoint(import_weights(self.weights, self.zoo, out, input_size=self.input_size,
                                              overwrite=True))
        # said once it worked: a failed import is one error line, nothing else
        print(f"imported {self.describe()} as a checkpoint (cached for next time)", file=sys.stderr, flush=True)
        return ckpt

    def _pretrain(self, progress: bool, *, deadline: float | None = None) -> Checkpoint:
        from warmstart.engine.config import TrainConfig
        from warmstart.engine.feature_cache import data_fingerprint
        from warmstart.pretraining.supervised import pretrain_supervised

        task = self.task()
        # keyed by the data, not the folder's name: two folders called train/ do not share a source,
        # and a folder whose files change gets a new one
        data = f"{data_fingerprint(task.x_train)}|{data_fingerprint(task.y_train)}|{task.classes}"
        key = f"{task.name}|{data}|{self.backbone}|{self.pretrain_epochs}|{self.seed}"
        if task.scaler is not None:  # a tabular model records its table's standardization since 2026-12-05
            key += "|feature-scaler"
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

    @property
    def display_name(self) -> str:
        """The source's name in reports: ``spec`` when given, else what the source is.

        A checkpoint folder's path, a zoo name (with its weights file and image size), or
        ``task:NAME`` for a source task alone.
        """
        if self.spec is not None:
            return self.spec
        if self.zoo is not None:
            return self.zoo_description()
        if self.path is not None:
            return str(self.path)
        return f"task:{self.task_name}"

    def zoo_description(self) -> str:
        """The zoo model as given: ``timm:NAME with weights FILE at HxW px`` (parts only when set)."""
        out = str(self.zoo)
        if self.weights is not None:
            out += f" with weights {self.weights}"
        if self.input_size is not None:
            out += f" at {self.input_size[0]}x{self.input_size[1]} px"
        return out

    def describe(self) -> str:
        """One line for reports (``spec`` first, with the checkpoint it names in parentheses)."""
        parts = []
        if self.spec is not None:
            parts.append(self.spec + (f" (checkpoint {self.path})" if self.path is not None else ""))
        elif self.path is not None:
            parts.append(f"checkpoint {self.path}")
        if self.zoo is not None and self.spec is None:
            parts.append(self.zoo_description())
        if self.task_name is not None:
            parts.append(f"source task {self.task_name}")
        return " + ".join(parts)


def _folder_stamp(name: str) -> list[Any]:
    """Names, sizes and modification times of a model folder's files ([] for a hub name)."""
    folder = Path(name).expanduser()
    if not folder.is_dir():
        return []
    return sorted([str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns]
                  for p in folder.rglob("*") if p.is_file())
