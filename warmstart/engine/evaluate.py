"""Evaluation: predicted probabilities and classification metrics.

Metrics: accuracy, balanced accuracy and macro-F1 (scikit-learn), expected
calibration error with 15 equal-width confidence bins (Guo et al. 2017), and
negative log-likelihood.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from warmstart.tasks._task import n_items, take


@torch.no_grad()
def predict_proba(model: nn.Module, x: Any, *, batch_size: int = 512,
                  device: torch.device | str | None = None) -> Tensor:
    """Class probabilities (N×K, on CPU) of ``model`` on inputs ``x``, in eval mode.

    ``x`` is a tensor, a list of strings or a Dataset of (input, label) pairs; batches go
    to ``device`` (default: the device of the model's first parameter, else the CPU). The
    model's train/eval mode is restored afterwards.
    """
    if device is None:
        first = next(model.parameters(), None)
        device = first.device if first is not None else "cpu"
    was_training = model.training
    model.eval()
    out: list[Tensor] = []
    n = n_items(x)
    try:
        for start in range(0, n, batch_size):
            idx = torch.arange(start, min(start + batch_size, n))
            xb = _to_batch(take(x, idx), device)
            out.append(torch.softmax(model(xb).float(), dim=1).cpu())
    finally:
        model.train(was_training)
    return torch.cat(out) if out else torch.empty(0, 0)


def _to_batch(xb: Any, device: torch.device | str) -> Any:
    if isinstance(xb, Tensor):
        return xb.to(device, non_blocking=True)
    if isinstance(xb, list):
        return xb
    items = [xb[i][0] for i in range(len(xb))]  # a Subset of a streaming Dataset
    return torch.stack(items).to(device)


def expected_calibration_error(probs: Tensor, y: Tensor, n_bins: int = 15) -> float:
    """ECE: the bin-weighted gap between confidence and accuracy (equal-width bins)."""
    conf, pred = probs.max(dim=1)
    correct = (pred == y).float()
    edges = torch.linspace(0, 1, n_bins + 1)
    ece = torch.zeros(())
    for lo, hi in itertools.pairwise(edges):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            ece += m.float().mean() * (conf[m].mean() - correct[m].mean()).abs()
    return float(ece)


def classification_metrics(probs: Tensor, y: Tensor) -> dict[str, float]:
    """Accuracy, balanced accuracy, macro-F1, ECE and NLL of probabilities against labels."""
    from sklearn.metrics import balanced_accuracy_score, f1_score  # here: sklearn costs seconds of start-up

    y = y.cpu()
    pred = probs.argmax(1)
    yn, pn = y.numpy(), pred.numpy()
    labels = np.arange(probs.shape[1])
    return {
        "accuracy": float((pred == y).float().mean()),
        "balanced_accuracy": float(balanced_accuracy_score(yn, pn)),
        "macro_f1": float(f1_score(yn, pn, average="macro", labels=labels, zero_division=0)),
        "ece": expected_calibration_error(probs, y),
        "nll": float(-torch.log(probs[torch.arange(len(y)), y].clamp_min(1e-12)).mean()),
    }


def evaluate(model: nn.Module, x: Any, y: Tensor, *, batch_size: int = 512,
             device: torch.device | str | None = None) -> dict[str, float]:
    """:func:`classification_metrics` of ``model`` on (x, y) (batches on ``device``, default the model's)."""
    return classification_metrics(predict_proba(model, x, batch_size=batch_size, device=device), y)
