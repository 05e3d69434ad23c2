"""Conditional domain adversarial loss, CDAN and CDAN+E (Long et al., NeurIPS 2018,
"Conditional Adversarial Domain Adaptation").

The discriminator sees the multilinear map T(f, g) = f ⊗ g (outer product of the
features f and the softmax predictions g, flattened), or, when d_f·d_g exceeds
``max_multilinear`` (the paper: 4096), the randomized map
T(f, g) = (R_f f) ⊙ (R_g g) / √d with fixed Gaussian matrices R_f, R_g and
d = 1024. The predictions g are detached (as in the authors' code). CDAN+E
weights each example's domain loss by 1 + exp(−H(g)), H the entropy (detached),
with the weights normalized to mean 1 within the source half and within the
target half separately.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from warmstart.losses.domain_discriminator import domain_accuracy, domain_bce
from warmstart.losses.gradient_reversal import GradientReversal


def prediction_entropy(p: Tensor, eps: float = 1e-8) -> Tensor:
    """Entropy of each row of a probability matrix (nats)."""
    return -(p * (p + eps).log()).sum(dim=1)


class MultilinearMap(nn.Module):
    """f ⊗ g flattened: (N, d_f), (N, d_g) → (N, d_f·d_g)."""

    def forward(self, f: Tensor, g: Tensor) -> Tensor:
        """Outer product per example, flattened."""
        return torch.bmm(g.unsqueeze(2), f.unsqueeze(1)).flatten(1)


class RandomizedMultilinearMap(nn.Module):
    """(R_f f) ⊙ (R_g g) / √d with fixed (untrained) Gaussian matrices.

    Args:
        feature_dim: d_f.
        n_classes: d_g.
        out_dim: d (1024 in the paper).
        seed: Seed of the random matrices (they are buffers, saved with the model).
    """

    r_f: Tensor
    r_g: Tensor

    def __init__(self, feature_dim: int, n_classes: int, out_dim: int = 1024, seed: int = 0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.register_buffer("r_f", torch.randn(feature_dim, out_dim, generator=gen))
        self.register_buffer("r_g", torch.randn(n_classes, out_dim, generator=gen))
        self.out_dim = out_dim

    def forward(self, f: Tensor, g: Tensor) -> Tensor:
        """Randomized multilinear map."""
        return (f @ self.r_f) * (g @ self.r_g) / math.sqrt(self.out_dim)


def cdan_map(feature_dim: int, n_classes: int, max_multilinear: int = 4096, randomized_dim: int = 1024,
             seed: int = 0) -> tuple[nn.Module, int]:
    """The multilinear map when d_f·d_g ≤ ``max_multilinear``, else the randomized one; and its width."""
    if feature_dim * n_classes <= max_multilinear:
        return MultilinearMap(), feature_dim * n_classes
    return RandomizedMultilinearMap(feature_dim, n_classes, randomized_dim, seed), randomized_dim


def entropy_weights(g: Tensor, n_source: int) -> Tensor:
    """CDAN+E weights 1 + exp(−H(g)), normalized to mean 1 within each half (source, target)."""
    w = 1.0 + torch.exp(-prediction_entropy(g.detach()))
    ws, wt = w[:n_source], w[n_source:]
    return torch.cat([ws / ws.mean(), wt / wt.mean()])


class ConditionalDomainAdversarialLoss(nn.Module):
    """CDAN(+E) domain loss: gradient reversal → map T(f, g) → discriminator → BCE.

    Args:
        discriminator: Maps the map's output (width ``map_dim``) to one domain logit each.
        mapping: :class:`MultilinearMap` or :class:`RandomizedMultilinearMap` (see :func:`cdan_map`).
        entropy_conditioning: CDAN+E (weight examples by 1 + exp(−H(g))).
    """

    def __init__(self, discriminator: nn.Module, mapping: nn.Module, entropy_conditioning: bool = True) -> None:
        super().__init__()
        self.grl = GradientReversal()
        self.discriminator = discriminator
        self.mapping = mapping
        self.entropy_conditioning = entropy_conditioning
        self.last_accuracy = float("nan")

    def forward(self, f_s: Tensor, f_t: Tensor, logits_s: Tensor, logits_t: Tensor,
                coeff: float = 1.0) -> Tensor:
        """Conditional domain loss of (features, logits) of a source and a target batch."""
        self.grl.coeff = coeff
        f = torch.cat([f_s, f_t])
        g = torch.softmax(torch.cat([logits_s, logits_t]), dim=1).detach()
        d = self.discriminator(self.grl(self.mapping(f, g)))
        n = len(f_s)
        d_s, d_t = d[:n], d[n:]
        self.last_accuracy = domain_accuracy(d_s.detach(), d_t.detach())
        if not self.entropy_conditioning:
            return domain_bce(d_s, d_t)
        w = entropy_weights(g, n)
        return domain_bce(d_s, d_t, w[:n], w[n:])
