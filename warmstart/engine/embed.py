"""``embed``: the one batched feature extraction (frozen model, eval mode, no gradients).

Linear probes, label-free selection, transferability scores, meta-features and the
feature cache all compute features through :func:`embed`; the cached variant is
:func:`warmstart.engine.feature_cache.cached_features`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from warmstart.tasks._task import n_items, take


def embed(model: nn.Module, x: Any, depth: int | None = None, *, pooled: bool = True,
                     batch_size: int = 256, device: torch.device | str | None = None) -> Tensor:
    """Batched frozen features of ``x``: eval mode, ``torch.no_grad()``, returned on CPU (no cache).

    Args:
        model: A :class:`~warmstart.backbones.classifier.Classifier` (its input preparation,
            normalization and resizing, is applied) or a bare backbone with ``forward_stages``.
        x: Inputs (tensor, list of strings, or a streaming Dataset of (input, label) pairs).
        depth: Run the first ``depth`` stages (None: the model's own cut, i.e. what its head sees).
        pooled: Pool the output to N×D (False: the raw stage output, e.g. N×C×H×W maps).
        batch_size: Inference batch size.
        device: Where to run (default: where the model's parameters are).

    Returns:
        A float32 CPU tensor with one row per input.
    """
    backbone: Any = getattr(model, "backbone", model)
    mdl: Any = model
    if device is None:
        p = next(iter(model.parameters()), None)
        device = p.device if p is not None else torch.device("cpu")
    was_training = model.training
    model.eval()
    out: list[Tensor] = []
    n = n_items(x)
    try:
        with torch.no_grad():
            for start in range(0, n, batch_size):
                xb = take(x, torch.arange(start, min(start + batch_size, n)))
                if not isinstance(xb, (Tensor, list)):  # a Subset of a streaming Dataset of (input, label)
                    xb = torch.stack([xb[i][0] for i in range(len(xb))])
                if isinstance(xb, Tensor):
                    xb = xb.to(device)
                if hasattr(mdl, "prepare"):
                    xb = mdl.prepare(xb)
                own_cut = depth is None or depth == getattr(model, "depth", None)
                h = backbone.forward_stages(xb, 0, getattr(model, "depth", None) if depth is None else depth)
                if own_cut and hasattr(mdl, "neck"):
                    h = mdl.neck(h)
                if pooled:
                    h = backbone.pool(h)
                out.append(h.float().cpu())
    finally:
        model.train(was_training)
    if not out:
        return torch.empty(0)
    return torch.cat(out)
