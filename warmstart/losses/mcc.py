"""Minimum class confusion, MCC (Jin, Wang, Long, Wang, ECCV 2020, "Minimum Class Confusion for
Versatile Domain Adaptation").

On a batch of target logits z (n×K): ŷ = softmax(z / T) with temperature T (2.5);
per-example weights W_i = 1 + exp(−H(ŷ_i)) rescaled to sum to n (the entropy is
detached from the graph, as in the authors' code: the weights only re-weight);
class correlation C = ŷᵀ diag(W) ŷ (K×K) with every row normalized to sum 1;
L_mcc = (Σ_j Σ_{j'≠j} C_jj') / K. It needs no domain discriminator.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def class_confusion(logits: Tensor, temperature: float = 2.5) -> Tensor:
    """The row-normalized, uncertainty-weighted class correlation matrix C (K×K) of a logit batch."""
    n = logits.shape[0]
    p = torch.softmax(logits / temperature, dim=1)
    h = -(p * torch.log(p + 1e-5)).sum(1).detach()
    w = 1.0 + torch.exp(-h)
    w = n * w / w.sum()
    c = (p * w.unsqueeze(1)).T @ p
    return c / c.sum(dim=1, keepdim=True)


def mcc_loss(logits: Tensor, temperature: float = 2.5) -> Tensor:
    """L_mcc = (sum of the off-diagonal entries of C) / K, in [0, (K − 1)/K]; 0 when no class is confused."""
    c = class_confusion(logits, temperature)
    k = c.shape[0]
    return (c.sum() - torch.trace(c)) / k


class MinimumClassConfusionLoss(nn.Module):
    """:func:`mcc_loss` as a module (no parameters).

    Args:
        temperature: T of the rescaled softmax (the paper's 2.5 for most benchmarks).
    """

    def __init__(self, temperature: float = 2.5) -> None:
        super().__init__()
        self.temperature = temperature

    def forward(self, logits: Tensor) -> Tensor:
        """MCC loss of target logits (n×K)."""
        return mcc_loss(logits, self.temperature)
