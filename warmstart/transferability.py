"""Transferability scores: rank sources on a target without training.

* **LogME** (You et al., "LogME: Practical Assessment of Pre-trained Models for
  Transfer Learning", ICML 2021): per target class, Bayesian linear regression of
  the one-hot column on the source features; the evidence is maximized over the
  prior precision α and noise precision β by fixed-point updates using one SVD;
  the score is the mean over classes of log evidence / n.
* **LEEP** (Nguyen et al., "LEEP: A New Measure to Evaluate Transferability of
  Learned Representations", ICML 2020): the log-likelihood of the target labels
  under the empirical conditional P(y|z) composed with the source classifier's
  softmax θ(x) over its own labels z. Needs a source classifier head.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from warmstart.errors import DataError


def logme(features: Tensor, labels: Tensor, n_classes: int | None = None, iters: int = 100,
          tol: float = 1e-6) -> float:
    """LogME score of ``features`` (n×d) for integer ``labels`` (higher is better).

    Raises:
        DataError: fewer than 2 examples or non-finite features.
    """
    f = features.detach().double().cpu()
    y = labels.detach().cpu().long()
    n, d = f.shape
    if n < 2 or not torch.isfinite(f).all():
        raise DataError("LogME needs at least 2 examples with finite features")
    k_cls = n_classes or int(y.max()) + 1
    u, s, _ = torch.linalg.svd(f, full_matrices=False)
    sigma = s**2
    k = len(s)
    total = 0.0
    for c in range(k_cls):
        t = (y == c).double()
        z = u.T @ t
        z2 = z**2
        rest = float(t @ t - z2.sum())  # part of y outside the column space of F
        alpha, beta = 1.0, 1.0
        for _ in range(iters):
            denom = alpha + beta * sigma
            gamma = float((beta * sigma / denom).sum())
            m2 = float((beta**2 * sigma * z2 / denom**2).sum())
            res2 = float((alpha**2 * z2 / denom**2).sum()) + max(rest, 0.0)
            new_alpha = gamma / max(m2, 1e-12)
            new_beta = (n - gamma) / max(res2, 1e-12)
            done = abs(new_alpha - alpha) / alpha < tol and abs(new_beta - beta) / beta < tol
            alpha, beta = new_alpha, new_beta
            if done:
                break
        denom = alpha + beta * sigma
        m2 = float((beta**2 * sigma * z2 / denom**2).sum())
        res2 = float((alpha**2 * z2 / denom**2).sum()) + max(rest, 0.0)
        logdet = float(torch.log(denom).sum()) + (d - k) * math.log(alpha)
        evidence = (n / 2 * math.log(beta) + d / 2 * math.log(alpha) - n / 2 * math.log(2 * math.pi)
                    - beta / 2 * res2 - alpha / 2 * m2 - logdet / 2)
        total += evidence / n
    return total / k_cls


def leep(source_probs: Tensor, labels: Tensor, n_classes: int | None = None) -> float:
    """LEEP score from the source classifier's probabilities θ(x) (n×Z) (higher is better, ≤ 0)."""
    theta = source_probs.detach().double().cpu()
    y = labels.detach().cpu().long()
    n = len(y)
    k = n_classes or int(y.max()) + 1
    onehot = torch.nn.functional.one_hot(y, k).double()
    joint = onehot.T @ theta / n  # K×Z: P(y, z)
    cond = joint / joint.sum(0, keepdim=True).clamp_min(1e-300)  # P(y | z)
    lik = (theta @ cond.T)[torch.arange(n), y]  # Σ_z P(y_i|z) θ(x_i)_z
    return float(torch.log(lik.clamp_min(1e-300)).mean())


@dataclass
class SourceScore:
    """Transferability of one source to a target."""

    source: str
    logme: float
    leep: float | None

    def to_json(self) -> dict[str, Any]:
        """Plain dict."""
        return {"source": self.source, "logme": self.logme, "leep": self.leep}


def score_source(model: Any, source_classes: list[str] | None, x: Any, y: Tensor, n_classes: int,
                 name: str) -> SourceScore:
    """LogME (always) and LEEP (when the model has a head) of a source model on labelled target data."""
    from warmstart.engine.evaluate import _to_batch

    model.eval()
    feats, probs = [], []
    with torch.no_grad():
        for start in range(0, len(y), 256):
            idx = torch.arange(start, min(start + 256, len(y)))
            from warmstart.tasks._task import take

            xb = _to_batch(take(x, idx), "cpu")
            h = model.features(xb)
            feats.append(h)
            if model.head is not None and source_classes:
                probs.append(torch.softmax(model.head(h), 1))
    f = torch.cat(feats)
    return SourceScore(name, logme(f, y, n_classes), leep(torch.cat(probs), y, n_classes) if probs else None)
