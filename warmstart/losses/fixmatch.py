"""Consistency on confident pseudo-labels: FixMatch (Sohn et al., NeurIPS 2020, "FixMatch: Simplifying
Semi-Supervised Learning with Consistency and Confidence") and FlexMatch's class-wise thresholds
(Zhang et al., NeurIPS 2021, "FlexMatch: Boosting Semi-Supervised Learning with Curriculum Pseudo
Labeling").

For an unlabelled x: q = argmax p(y | weak(x)) (no gradient), kept when max p ≥ τ;
loss = (1/μB) Σ 1[max p ≥ τ] · CE(p(y | strong(x)), q), averaged over the whole
unlabelled batch (masked examples count as zeros, as in the paper). FlexMatch
replaces τ by τ_c = M(β_c)·τ per predicted class c, with β_c the class's learning
status: σ_c = the number of unlabelled examples whose latest confident prediction
(max p > τ) is c, β_c = σ_c / max(max_c' σ_c', N − Σ_c' σ_c') (the threshold warm-up),
M(x) = x / (2 − x) (the convex mapping).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def fixmatch_loss(z_weak: Tensor, z_strong: Tensor, threshold: float | Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The masked pseudo-label cross-entropy.

    Args:
        z_weak: Logits of the weak views (no gradient flows through them).
        z_strong: Logits of the strong views of the same examples.
        threshold: τ, or a K-vector of class-wise thresholds (indexed by the pseudo-label).

    Returns:
        (loss, mask, pseudo-labels): the mean over the batch of mask · CE, the boolean
        mask of the kept examples, and the argmax labels of the weak views.
    """
    p = torch.softmax(z_weak.detach().float(), dim=1)
    conf, pseudo = p.max(dim=1)
    tau = threshold[pseudo] if isinstance(threshold, Tensor) else threshold
    mask = conf >= tau
    ce = F.cross_entropy(z_strong, pseudo, reduction="none")
    return (ce * mask.to(ce.dtype)).mean(), mask, pseudo


class FlexMatchThresholds:
    """Class-wise flexible thresholds over an unlabelled pool of ``n`` examples (FlexMatch).

    Args:
        n: Size of the unlabelled pool.
        n_classes: Number of classes.
        threshold: The base threshold τ.
    """

    def __init__(self, n: int, n_classes: int, threshold: float) -> None:
        self.threshold = threshold
        self.n_classes = n_classes
        self.predicted = torch.full((n,), -1, dtype=torch.long)  # −1: not yet confidently predicted

    def update(self, index: Tensor, z_weak: Tensor) -> None:
        """Record the confident (max p > τ) predictions of the pool examples ``index``."""
        conf, pseudo = torch.softmax(z_weak.detach().float(), dim=1).max(dim=1)
        keep = (conf > self.threshold).cpu()
        self.predicted[index.cpu()[keep]] = pseudo.cpu()[keep]

    def thresholds(self) -> Tensor:
        """τ_c = M(β_c)·τ for every class (a K-vector), M(x) = x / (2 − x)."""
        sigma = torch.bincount(self.predicted[self.predicted >= 0], minlength=self.n_classes).float()
        unused = float((self.predicted < 0).sum())
        beta = sigma / max(float(sigma.max()), unused, 1.0)
        return beta / (2.0 - beta) * self.threshold
