"""BYOL's regression loss: the normalized mean squared error between a prediction and a target projection.

Grill et al., "Bootstrap Your Own Latent: A New Approach to Self-Supervised Learning",
NeurIPS 2020, Eq. 2: with q̄ = q/‖q‖ and z̄' = z'/‖z'‖,
L = ‖q̄ − z̄'‖² = 2 − 2·⟨q, z'⟩ / (‖q‖·‖z'‖). The target is a constant (no gradient flows
into it); the loss is symmetrized over the two views by the caller (Eq. 3).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from warmstart.errors import ConfigError


def byol_loss(prediction: Tensor, target: Tensor) -> Tensor:
    """Mean over the batch of 2 − 2·cos(prediction, target), with the target detached.

    Args:
        prediction: N×D online predictions q.
        target: N×D target projections z' (gradients never flow into them).

    Returns:
        A scalar in [0, 4].

    Raises:
        ConfigError: the shapes differ or are not N×D.
    """
    if prediction.shape != target.shape or prediction.dim() != 2:
        raise ConfigError(f"byol_loss needs two N×D batches of the same shape, got {tuple(prediction.shape)} "
                          f"and {tuple(target.shape)}")
    return (2 - 2 * F.cosine_similarity(prediction, target.detach(), dim=1)).mean()


class BYOLLoss(nn.Module):
    """:func:`byol_loss` as a module."""

    def forward(self, prediction: Tensor, target: Tensor) -> Tensor:
        """Loss of predictions against target projections."""
        return byol_loss(prediction, target)
