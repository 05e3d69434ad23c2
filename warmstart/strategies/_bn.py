"""Batch-norm statistics for the target domain (AdaBN) and frozen-statistics fine-tuning.

AdaBN (Li, Wang, Shi, Liu, Hou, "Revisiting Batch Normalization For Practical
Domain Adaptation", ICLR-W 2017): the running mean and variance of every
batch-norm layer are re-estimated on unlabelled target inputs (here the task's
unlabelled pool, which the few-shot protocol gives every strategy), replacing
the source statistics; no label is used. Fine-tuning can then keep those
statistics fixed (``bn_mode="frozen"``: batch-norm layers in eval mode) instead
of letting them drift to the few support images.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch
from torch import nn

from warmstart.errors import ConfigError
from warmstart.strategies._params import Param
from warmstart.tasks._task import Task, n_items, take

BN_PARAMS: dict[str, Param] = {
    "bn_adapt": Param("none", choices=("pool", "none"),
                      help="re-estimate batch-norm statistics on the unlabelled target pool (AdaBN) or not"),
    "bn_mode": Param("train", choices=("frozen", "train"),
                     help="batch-norm statistics fixed during fine-tuning (frozen) or updated (train)"),
}
"""Defaults for fine-tuning: statistics updated during training (so AdaBN first makes no
difference and is off). On mnist5k-a → mnist5k-b-noisy (1 and 5 shots, 2 seeds) frozen
statistics after AdaBN fine-tuned worse (l2sp 1 shot: 0.29/0.21 vs 0.31/0.36 updated)."""

def batch_norms(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """The batch-norm layers of ``model``."""
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@torch.no_grad()
def adapt_bn_statistics(model: nn.Module, x: Any, *, max_items: int = 2000, batch_size: int = 256,
                        seed: int = 0) -> int:
    """Replace every batch-norm layer's running statistics by those of ``x`` (AdaBN).

    Uses at most ``max_items`` inputs (a seeded random subset) and a cumulative average
    over batches. Parameters are untouched; the model's train/eval mode is restored.

    Returns:
        The number of inputs used (0 when the model has no batch norm or ``x`` is empty).
    """
    bns = batch_norms(model)
    n = n_items(x) if x is not None else 0
    if not bns or n == 0 or not isinstance(x, (torch.Tensor, list)):
        return 0
    idx = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:max_items]
    was_training = model.training
    saved = [(bn, bn.momentum) for bn in bns]
    device = next(model.parameters()).device
    model.eval()
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative moving average
        bn.train()
    try:
        for start in range(0, len(idx), batch_size):
            part = idx[start:start + batch_size]
            if len(part) < 2:
                continue
            xb = take(x, part)
            forward: Any = getattr(model, "features", model)
            forward(xb.to(device) if isinstance(xb, torch.Tensor) else xb)
    finally:
        for bn, momentum in saved:
            bn.momentum = momentum
        model.train(was_training)
    return len(idx)


#: AdaBN results by (source weights, pool, seed): the statistics and the number of inputs used
_ADAPTED: OrderedDict[str, tuple[int, list[dict[str, torch.Tensor]]]] = OrderedDict()
_ADAPTED_MAX = 16


def maybe_adapt_bn(model: nn.Module, task: Task, mode: str, seed: int, cache_key: str | None = None) -> int:
    """AdaBN on ``task``'s unlabelled pool when ``mode == "pool"`` and the task has one.

    With ``cache_key`` (the identity of ``model``'s weights and input preparation, e.g.
    :func:`~warmstart.strategies._frozen_features.frozen_key`), the statistics are computed
    once per (weights, pool, seed) in this process and copied into later models with the
    same key, without running the pool through the backbone again.

    Returns:
        The number of pool inputs the statistics come from (0: none re-estimated).
    """
    if mode != "pool" or not task.has_unlabeled:
        return 0
    if cache_key is None:
        return adapt_bn_statistics(model, task.x_unlabeled, seed=seed)
    from warmstart.engine.feature_cache import data_fingerprint

    try:
        key = f"{cache_key}|pool={data_fingerprint(task.x_unlabeled)}|seed={seed}"
    except ConfigError:  # a dataset kind without a fingerprint: no cache
        return adapt_bn_statistics(model, task.x_unlabeled, seed=seed)
    bns = batch_norms(model)
    hit = _ADAPTED.get(key)
    if hit is not None and len(hit[1]) == len(bns):
        _ADAPTED.move_to_end(key)
        with torch.no_grad():
            for bn, stats in zip(bns, hit[1], strict=True):
                for name, value in stats.items():
                    getattr(bn, name).copy_(value)
        return hit[0]
    n = adapt_bn_statistics(model, task.x_unlabeled, seed=seed)
    _ADAPTED[key] = (n, [{name: b.detach().clone() for name, b in bn.named_buffers(recurse=False) if b is not None}
                         for bn in bns])
    while len(_ADAPTED) > _ADAPTED_MAX:
        _ADAPTED.popitem(last=False)
    return n


def clear_bn_cache() -> None:
    """Forget the AdaBN statistics kept by :func:`maybe_adapt_bn` (to free memory, or measure a cold start)."""
    _ADAPTED.clear()
