"""Head-only work on a frozen backbone: its features computed once per input, then reused.

A frozen backbone maps the same input to the same features, so strategies that train
or use only the head on top of it (the linear probe, the head phase of gradual
unfreezing) need its forward pass once per input, not once per epoch, trial or
prediction. The features come from :func:`warmstart.engine.feature_cache.cached_features`
(the process-wide cache), keyed by :func:`frozen_key`: the source checkpoint's weights
(sha256), the model's input preparation (channels, size, normalization), its cut and
neck, and the batch-norm statistics re-estimated on the target pool (AdaBN), if any.
A search whose trials share one process (``warmstart tune``, ``warmstart auto``) so
pays the backbone's forward pass once per image for every head-only trial.

Cached features are eval-mode features (dropout and stochastic depth off, batch norm
on its running statistics): what the frozen backbone computes at prediction time.
Training-time augmentation changes every input each epoch and cannot be cached;
callers train on cached features only when no augmentation applies.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from warmstart.backbones.classifier import Classifier
from warmstart.engine.config import TrainConfig
from warmstart.engine.feature_cache import cached_features, data_fingerprint
from warmstart.engine.trainer import History, Trainer
from warmstart.errors import ConfigError
from warmstart.strategies._transfer import validation_data
from warmstart.tasks._task import Task, n_items


def frozen_key(model: Classifier, report: Mapping[str, Any], n_bn: int = 0, *,
               pool: Any = None, seed: int = 0) -> str | None:
    """The feature-cache key of ``model``'s frozen part, or None when its weights are unknown.

    Args:
        model: The source model adapted to the task (head aside).
        report: The adaptation report of :func:`~warmstart.strategies._transfer.source_model`
            (its ``source_sha256`` identifies the weights).
        n_bn: Inputs AdaBN re-estimated the batch-norm statistics on (0: source statistics).
        pool: The unlabelled inputs of that re-estimation (when ``n_bn``).
        seed: The seed of that re-estimation.
    """
    sha = report.get("source_sha256")
    if not sha:
        return None
    spec = json.dumps(model.input_spec.to_json(), sort_keys=True)
    key = (f"{sha}|in_chans={model.input_channels}|input={spec}|depth={model.depth}|"
           f"neck={json.dumps(model.neck_spec, sort_keys=True)}")
    if n_bn:
        key += f"|adabn={data_fingerprint(pool)}|n={n_bn}|seed={seed}"
    return key


class FrozenBackbone:
    """A fitted model's frozen part: its feature key and a snapshot that tells when it changed.

    The snapshot holds each backbone, neck and input-preparation tensor's identity and
    in-place version counter: a later ``fit``, an optimizer step or a ``load_state_dict``
    on the model changes them, and the cached features stop being used.
    """

    def __init__(self, model: Classifier, key: str) -> None:
        self.key = key
        self._snapshot = self._state(model)

    @staticmethod
    def _state(model: Classifier) -> list[tuple[int, int]]:
        head = {id(p) for p in (model.head.parameters() if model.head is not None else ())}
        head |= {id(b) for b in (model.head.buffers() if model.head is not None else ())}
        tensors = [t for t in (*model.parameters(), *model.buffers()) if id(t) not in head]
        return [(id(t), t._version) for t in tensors]

    def unchanged(self, model: Classifier) -> bool:
        """Whether ``model``'s frozen part is still the one the features were computed with."""
        return self._state(model) == self._snapshot


def features(model: Classifier, x: Any, key: str) -> Tensor | None:
    """Cached pooled features of ``x`` (CPU), or None when ``x`` cannot be fingerprinted."""
    try:
        data_key = data_fingerprint(x)
    except ConfigError:  # a dataset kind without a fingerprint: no cache
        return None
    return cached_features(model, x, depth=None, key=key, data_key=data_key)


#: largest feature tensor a prediction keeps in the cache (bigger inputs run through the model uncached)
MAX_PREDICT_CACHE_BYTES = 512 * 2**20


@torch.no_grad()
def head_proba(model: Classifier, frozen: FrozenBackbone | None, x: Any) -> Tensor | None:
    """Class probabilities (N×K, CPU) of ``model``'s head on the cached features of ``x``.

    None when there is no frozen part to read (``frozen`` None or changed since), ``x``
    cannot be fingerprinted, or its features would take more than
    :data:`MAX_PREDICT_CACHE_BYTES`: the caller then runs the whole model.
    """
    if frozen is None or model.head is None or not frozen.unchanged(model):
        return None
    if n_items(x) * model.feature_dim * 4 > MAX_PREDICT_CACHE_BYTES:
        return None
    feats = features(model, x, frozen.key)
    if feats is None:
        return None
    head = model.head
    was_training = head.training
    head.eval()
    try:
        param = next(head.parameters())
        return torch.softmax(head(feats.to(param.device, param.dtype)).float(), dim=1).cpu()
    finally:
        head.train(was_training)


def train_head(model: Classifier, task: Task, key: str, config: TrainConfig,
               groups: list[dict[str, Any]], *, description: str) -> History | None:
    """Train ``model``'s head with cross-entropy on the cached features of the task's splits.

    The training is the engine's :class:`~warmstart.engine.trainer.Trainer` on the head alone
    (same batches, schedule, validation, callbacks and best-epoch restore as on the whole
    model, without augmentation: ``config.augment`` is ignored, so call this only when none
    applies). ``groups`` are the optimizer groups, which must hold head parameters only.

    Returns:
        The history, or None when the training inputs cannot be fingerprinted (train the
        whole model instead).
    """
    assert model.head is not None
    x = features(model, task.x_train, key)
    if x is None:
        return None
    val = validation_data(task)
    if val is not None:
        xv = features(model, val[0], key)
        if xv is None:
            return None
        val = (xv, val[1])
    head: nn.Module = model.head
    trainer = Trainer(head, config, param_groups=groups)
    return trainer.fit(x, task.y_train, val=val, description=description)
