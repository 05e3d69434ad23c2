"""Label-free model selection for domain adaptation: scores that need no target label.

Each evaluation computes every score below on the current model; ``select_by``
names the one the trainer monitors to pick the epoch whose weights are kept.

* ``source_accuracy`` — accuracy on the labelled source validation split (higher is better).
* ``entropy`` — mean prediction entropy on the unlabelled target pool (lower is better).
* ``infomax`` — information maximization H(mean p) − mean H(p) on the target pool
  (higher is better; confident *and* diverse predictions, Shi & Sha, ICML 2012;
  used for selection e.g. by Musgrave et al. 2021, "Unsupervised domain adaptation: a reality check").
* ``dev`` — deep embedded validation (You et al., ICML 2019, "Towards Accurate Model
  Selection in Deep Unsupervised Domain Adaptation"): a logistic-regression domain
  classifier on the model's features (source train vs target pool) gives density
  ratios w(x) = p(t|x)/p(s|x) · n_s/n_t on held-out source validation examples;
  the risk is mean(w·ℓ) + η·mean(w) − η with η = −Cov(w·ℓ, w)/Var(w) (lower is better).
* ``last`` — no selection: the final epoch.

Target labels are never read: the target enters only as the unlabelled pool.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from warmstart.tasks._task import n_items, take

#: select_by name → (logged key, mode) for the trainer's ``monitor``.
SELECTORS: dict[str, tuple[str, str]] = {
    "source_accuracy": ("sel_source_accuracy", "max"),
    "entropy": ("sel_entropy", "min"),
    "infomax": ("sel_infomax", "max"),
    "dev": ("sel_dev", "min"),
    "last": ("epoch", "max"),
}


def entropy_score(p: Tensor, eps: float = 1e-8) -> float:
    """Mean prediction entropy (nats) of probability rows ``p``."""
    return float(-(p * (p + eps).log()).sum(1).mean())


def infomax_score(p: Tensor, eps: float = 1e-8) -> float:
    """Information maximization H(mean p) − mean H(p) (higher: confident and diverse)."""
    m = p.mean(0)
    return float(-(m * (m + eps).log()).sum()) - entropy_score(p, eps)


def dev_risk(weights: np.ndarray, losses: np.ndarray) -> float:
    """Deep embedded validation risk with the control variate (You et al. 2019, Algorithm 1).

    Args:
        weights: Density ratios w_i of the validation examples.
        losses: Their losses ℓ_i.

    Returns:
        mean(w·ℓ) + η·mean(w) − η with η = −Cov(w·ℓ, w) / Var(w) (η = 0 when Var(w) = 0).
    """
    w = np.asarray(weights, dtype=np.float64)
    wl = w * np.asarray(losses, dtype=np.float64)
    var = float(w.var(ddof=1)) if len(w) > 1 else 0.0
    eta = -float(np.cov(wl, w, ddof=1)[0, 1]) / var if var > 1e-12 else 0.0
    return float(wl.mean() + eta * w.mean() - eta)


def density_ratios(f_train_s: np.ndarray, f_t: np.ndarray, f_val_s: np.ndarray, seed: int = 0) -> np.ndarray:
    """w(x) = p(t|x)/p(s|x) · n_s/n_t from a logistic-regression domain classifier.

    The classifier is fit on standardized features of source-train (label 0) and
    target (label 1) examples and applied to the source-validation features.
    """
    from sklearn.linear_model import LogisticRegression

    x = np.concatenate([f_train_s, f_t])
    mu, sd = x.mean(0), x.std(0) + 1e-6
    y = np.concatenate([np.zeros(len(f_train_s)), np.ones(len(f_t))])
    clf = LogisticRegression(C=1.0, max_iter=300, random_state=seed)
    clf.fit((x - mu) / sd, y)
    p = clf.predict_proba((f_val_s - mu) / sd)[:, 1].clip(1e-6, 1 - 1e-6)
    return (p / (1 - p)) * (len(f_train_s) / len(f_t))


def _subset(x: Any, n: int, gen: torch.Generator) -> tuple[Any, Tensor]:
    total = n_items(x)
    idx = torch.randperm(total, generator=gen)[: min(n, total)].sort().values
    return take(x, idx), idx


@torch.no_grad()
def _features_logits(model: nn.Module, x: Any, device: torch.device, batch: int = 500) -> tuple[Tensor, Tensor]:
    feats, logits = [], []
    for s in range(0, n_items(x), batch):
        xb = take(x, torch.arange(s, min(s + batch, n_items(x))))
        if isinstance(xb, Tensor):
            xb = xb.to(device)
        f = model.features(xb)  # type: ignore[operator]
        feats.append(f.float().cpu())
        logits.append(model.head(f).float().cpu())  # type: ignore[operator]
    return torch.cat(feats), torch.cat(logits)


class SelectionScores:
    """Computes every label-free selection score of a model (the trainer's ``val`` callable).

    Args:
        x_source_train, x_source_val, y_source_val: Labelled source data (train inputs
            for the DEV domain classifier; validation inputs and labels for accuracy and DEV).
        x_target: The target's unlabelled pool (no labels).
        samples: At most this many examples of each set are used (fixed subsets).
        seed: Seed of the subsets and the domain classifier.
        device: Device of the model.
    """

    def __init__(self, x_source_train: Any, x_source_val: Any, y_source_val: Tensor, x_target: Any, *,
                 samples: int = 500, seed: int = 0, device: torch.device | str = "cpu") -> None:
        gen = torch.Generator().manual_seed(seed)
        self.xs_train, _ = _subset(x_source_train, samples, gen)
        self.xs_val, idx = _subset(x_source_val, samples, gen)
        self.ys_val = y_source_val[idx]
        self.xt, _ = _subset(x_target, samples, gen)
        self.seed = seed
        self.device = torch.device(device)

    def __call__(self, model: nn.Module) -> dict[str, float]:
        """Scores of ``model`` (eval mode; the previous mode is restored)."""
        was = model.training
        model.eval()
        try:
            f_tr, _ = _features_logits(model, self.xs_train, self.device)
            f_val, z_val = _features_logits(model, self.xs_val, self.device)
            f_t, z_t = _features_logits(model, self.xt, self.device)
        finally:
            model.train(was)
        p_t = torch.softmax(z_t, 1)
        losses = F.cross_entropy(z_val, self.ys_val, reduction="none").numpy()
        w = density_ratios(f_tr.numpy(), f_t.numpy(), f_val.numpy(), self.seed)
        return {
            "sel_source_accuracy": float((z_val.argmax(1) == self.ys_val).float().mean()),
            "sel_entropy": entropy_score(p_t),
            "sel_infomax": infomax_score(p_t),
            "sel_dev": dev_risk(w, losses),
        }


def pick(candidates: list[dict[str, Any]], select_by: str) -> int:
    """Index of the candidate (per-epoch logs) that ``select_by`` would choose (ties: earliest)."""
    key, mode = SELECTORS[select_by]
    scored = [(i, c[key]) for i, c in enumerate(candidates) if key in c]
    if not scored:
        return len(candidates) - 1
    best = max if mode == "max" else min
    return best(scored, key=lambda t: t[1])[0]


ScoreFn = Callable[[nn.Module], dict[str, float]]
