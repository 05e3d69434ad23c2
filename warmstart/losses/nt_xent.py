"""NT-Xent, the normalized temperature-scaled cross-entropy of SimCLR.

Chen, Kornblith, Norouzi, Hinton, "A Simple Framework for Contrastive Learning
of Visual Representations", ICML 2020. For 2N views (two per image) with
cosine similarities s_ij,
ℓ(i, j) = −log [exp(s_ij/τ) / Σ_{k≠i} exp(s_ik/τ)], averaged over all 2N
anchors (each view's positive is the other view of the same image; the other
2N−2 views are negatives).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from warmstart.errors import ConfigError


def nt_xent(z1: Tensor, z2: Tensor, temperature: float = 0.5) -> Tensor:
    """NT-Xent loss of two batches of projections (row i of ``z1`` and ``z2``: one image).

    Args:
        z1, z2: N×D projections of the two views (not necessarily normalized).
        temperature: τ > 0 (0.5 suits small batches, Chen et al. 2020, Table B.1).

    Returns:
        The mean loss over the 2N anchors (a scalar).

    Raises:
        ConfigError: shapes differ, fewer than 2 images, or τ <= 0.
    """
    if z1.shape != z2.shape or z1.dim() != 2:
        raise ConfigError(f"nt_xent needs two N×D batches of the same shape, got {tuple(z1.shape)} "
                          f"and {tuple(z2.shape)}")
    n = z1.shape[0]
    if n < 2:
        raise ConfigError("nt_xent needs at least 2 images per batch (negatives come from the batch)")
    if not temperature > 0:
        raise ConfigError(f"temperature must be > 0, got {temperature}")
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    sim = z @ z.t() / temperature
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(sim, target)


class NTXentLoss(nn.Module):
    """:func:`nt_xent` as a module.

    Args:
        temperature: τ > 0 (default 0.5).
    """

    def __init__(self, temperature: float = 0.5) -> None:
        super().__init__()
        if not temperature > 0:
            raise ConfigError(f"temperature must be > 0, got {temperature}")
        self.temperature = float(temperature)

    def forward(self, z1: Tensor, z2: Tensor) -> Tensor:
        """Loss of the two views' projections."""
        return nt_xent(z1, z2, self.temperature)
