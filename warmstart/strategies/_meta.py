"""Shared machinery of meta-learning strategies (protonet, maml).

A meta-learner trains on episodes of a *source task* (``--source-task``,
optionally starting from a ``--source`` checkpoint), then adapts to the target
task's support set (its labelled train split, under the few-shot protocol) and
predicts its test split. Meta-training depends only on the source and the
meta-training hyperparameters, so its result is cached: in memory on the
strategy object (fitting the same instance to many target episodes meta-trains
once) and on disk under ``$WARMSTART_CACHE/meta/`` as an ordinary checkpoint.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any, ClassVar

import torch

from warmstart._paths import cache_dir
from warmstart.backbones.checkpoint import load_checkpoint, save_checkpoint
from warmstart.backbones.classifier import Classifier
from warmstart.backbones.new_model import new_model
from warmstart.engine.device import configure_threads, resolve_device
from warmstart.engine.seeding import seed_everything
from warmstart.errors import ConfigError
from warmstart.source import Source
from warmstart.strategies._base import Strategy
from warmstart.strategies._params import Param
from warmstart.tasks._task import Task
from warmstart.tasks.episodes import EpisodeSampler

META_PARAMS: dict[str, Param] = {
    "meta_ways": Param(5, 2, 1000, help="classes per meta-training episode (at most the source's classes)"),
    "meta_shots": Param(5, 1, 1000, help="support examples per class in meta-training episodes"),
    "meta_queries": Param(10, 1, 1000, help="query examples per class in meta-training episodes"),
    "source_classes": Param("", help="meta-train only on these source classes (comma-separated names; "
                                     "empty: all)"),
}
# Hyperparameters that do not change meta-training (they act at adaptation or on output only).
NOT_META = {"device", "progress", "epochs", "batch_size", "weight_decay", "label_smoothing", "min_steps"}


class MetaLearner(Strategy):
    """Base of meta-learning strategies: cached meta-training, then adaptation.

    Subclasses implement :meth:`_meta_train` (train ``model`` in place on episodes of
    the source) and :meth:`_adapt` (return the target model from a copy of the
    meta-trained one), and may list adaptation-only hyperparameters in ``adapt_params``.
    """

    needs_source_task = True
    adapt_params: ClassVar[frozenset[str]] = frozenset()
    head_ways: ClassVar[bool] = False  # whether the meta-trained model carries a meta_ways-way head

    def _fit(self, task: Task, source: Any) -> None:
        if source is None:
            raise ConfigError(f"{self.name} meta-trains on a source task: give --source-task NAME")
        if not isinstance(source, Source):
            raise ConfigError(f"{self.name}: source must be a Source, got {type(source).__name__}")
        configure_threads()
        device = resolve_device(self.device)
        meta = self._meta_model(source, device)
        self.info_["meta_trained"] = dict(self.meta_info_)
        model = copy.deepcopy(meta).to(device)
        seed_everything(self.seed)
        self.model_ = self._adapt(model, task, device)

    # ------------------------------------------------------------------ caching
    def _meta_key(self, source: Source) -> str:
        params = {k: v for k, v in self.get_params().items()
                  if k not in NOT_META and k not in self.adapt_params}
        sha = source.checkpoint(self.progress).sha256 if source.has_checkpoint else None
        key = {"strategy": self.name, "params": params, "source_task": source.task_name,
               "source_checkpoint": sha, "version": 1}
        return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:20]

    def _meta_model(self, source: Source, device: torch.device) -> Classifier:
        key = self._meta_key(source)
        cached = getattr(self, "_meta_cache", None)
        if cached is not None and cached[0] == key:
            return cached[1]  # type: ignore[no-any-return]
        folder = cache_dir() / "meta" / key
        model: Classifier | None = None
        if (folder / "meta.json").exists():
            try:
                ck = load_checkpoint(folder)
                model, self.meta_info_ = ck.model, dict(ck.meta["extra"].get("meta_info", {}))
                self.meta_info_["cached"] = True
            except Exception:  # a corrupt cache entry is rebuilt
                model = None
        if model is None:
            src_task = self._source_task(source)
            model = self._initial_model(source, src_task)
            seed_everything(self.seed)
            ways = min(self.meta_ways, src_task.n_classes)
            sampler = EpisodeSampler.from_task(src_task, ways, self.meta_shots, self.meta_queries,
                                               seed=self.seed)
            self.meta_info_ = {"source_task": src_task.name, "ways": ways, "shots": self.meta_shots,
                               "queries": self.meta_queries, "from_checkpoint": source.has_checkpoint}
            self.meta_info_.update(self._meta_train(model.to(device), sampler, device))
            model = model.cpu()
            save_checkpoint(model, folder, classes=None, source_task=src_task.name,
                            extra={"strategy": self.name, "meta_info": self.meta_info_})
            self.meta_info_["cached"] = False
        self._meta_cache = (key, model)
        return model

    def _source_task(self, source: Source) -> Task:
        task = source.task()
        if self.source_classes:
            names = [c.strip() for c in str(self.source_classes).split(",") if c.strip()]
            missing = [c for c in names if c not in task.classes]
            if missing:
                raise ConfigError(f"source_classes: task {task.name!r} has no class {missing[0]!r}; "
                                  f"classes: {', '.join(task.classes)}")
            task = task.subset_classes([task.classes.index(c) for c in names])
        if task.n_classes < 2:
            raise ConfigError(f"{self.name} needs at least 2 source classes")
        return task

    def _initial_model(self, source: Source, src_task: Task) -> Classifier:
        """The source checkpoint's model when one is given, else a fresh model for the source task."""
        seed_everything(self.seed)
        if source.has_checkpoint:
            model = source.fresh_checkpoint(self.progress).model
            if model.input_spec.modality != src_task.modality:
                raise ConfigError(f"source checkpoint is {model.input_spec.modality}; source task "
                                  f"{src_task.name!r} is {src_task.modality}")
        else:
            model = new_model(src_task)
        if self.head_ways:
            model.replace_head(min(self.meta_ways, src_task.n_classes))
        else:
            model.head = None
            model.n_classes = 0
        return model

    # ------------------------------------------------------------------ hooks
    def _meta_train(self, model: Classifier, sampler: EpisodeSampler,
                    device: torch.device) -> dict[str, Any]:
        """Meta-train ``model`` in place on ``sampler``'s episodes; return facts for ``info_``."""
        raise NotImplementedError

    def _adapt(self, model: Classifier, task: Task, device: torch.device) -> Classifier:
        """Adapt a copy of the meta-trained model to ``task``'s support set; return the fitted model."""
        raise NotImplementedError
