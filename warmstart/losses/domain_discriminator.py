"""Domain discriminator and the domain-adversarial loss of DANN (Ganin et al., JMLR 2016).

The discriminator is the paper's small MLP (two hidden layers; batch norm as in
TLlib's ``DomainDiscriminator``) giving the logit of "this example comes from the
source domain". :class:`DomainAdversarialLoss` puts a gradient reversal layer in
front of it and returns the binary cross-entropy of telling source (label 1) from
target (label 0), averaged over the two halves, optionally weighted per example.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from warmstart.losses.gradient_reversal import GradientReversal


class DomainDiscriminator(nn.Sequential):
    """MLP ``in_dim → hidden → hidden → 1`` (logit of "source domain").

    Args:
        in_dim: Input width (feature dimension, or the CDAN map's width).
        hidden: Hidden width (the paper uses 1024 on AlexNet/ResNet features).
        batch_norm: Batch norm after each hidden layer (else dropout 0.5 as in the paper).
    """

    def __init__(self, in_dim: int, hidden: int = 256, batch_norm: bool = True) -> None:
        def block(i: int, o: int) -> list[nn.Module]:
            norm: nn.Module = nn.BatchNorm1d(o) if batch_norm else nn.Dropout(0.5)
            return [nn.Linear(i, o), norm, nn.ReLU(inplace=True)]

        super().__init__(*block(in_dim, hidden), *block(hidden, hidden), nn.Linear(hidden, 1))


def domain_bce(logits_s: Tensor, logits_t: Tensor, weight_s: Tensor | None = None,
               weight_t: Tensor | None = None) -> Tensor:
    """Mean of the source-half (label 1) and target-half (label 0) binary cross-entropies."""
    ls = F.binary_cross_entropy_with_logits(logits_s.flatten(), torch.ones_like(logits_s.flatten()),
                                            weight=weight_s)
    lt = F.binary_cross_entropy_with_logits(logits_t.flatten(), torch.zeros_like(logits_t.flatten()),
                                            weight=weight_t)
    return 0.5 * (ls + lt)


def domain_accuracy(logits_s: Tensor, logits_t: Tensor) -> float:
    """Fraction of examples the discriminator assigns to the right domain."""
    right = (logits_s.flatten() > 0).float().sum() + (logits_t.flatten() <= 0).float().sum()
    return float(right / (logits_s.numel() + logits_t.numel()))


class DomainAdversarialLoss(nn.Module):
    """DANN's domain loss: discriminator after a gradient reversal layer.

    Minimizing it trains the discriminator to separate the domains and, through
    the reversed gradient, the feature extractor to make them indistinguishable.

    Args:
        discriminator: Maps features to one domain logit each.
    """

    def __init__(self, discriminator: nn.Module) -> None:
        super().__init__()
        self.grl = GradientReversal()
        self.discriminator = discriminator
        self.last_accuracy = float("nan")

    def forward(self, f_s: Tensor, f_t: Tensor, coeff: float = 1.0) -> Tensor:
        """Domain BCE of source features ``f_s`` vs target features ``f_t``; λ = ``coeff``."""
        self.grl.coeff = coeff
        d = self.discriminator(self.grl(torch.cat([f_s, f_t])))
        d_s, d_t = d[: len(f_s)], d[len(f_s):]
        self.last_accuracy = domain_accuracy(d_s.detach(), d_t.detach())
        return domain_bce(d_s, d_t)
