"""``dann``: domain-adversarial training (Ganin et al., JMLR 2016, "Domain-Adversarial Training of
Neural Networks").

A domain discriminator after a gradient reversal layer on the features; the
reversal coefficient follows λ_p = 2 / (1 + exp(−10·p)) − 1 and the learning
rate μ_p = μ₀ / (1 + 10·p)^0.75 (shared loop), with source and target batches of
equal size each step. The discriminator sees the features the losses act on (the
pooled features; the bottleneck's output with ``bottleneck > 0``). ``mcc > 0`` adds
minimum class confusion on the target predictions (DANN+MCC, Jin et al. 2020).
"""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor, nn

from warmstart.losses.domain_discriminator import DomainAdversarialLoss, DomainDiscriminator
from warmstart.losses.gradient_reversal import dann_lambda
from warmstart.strategies._adaptation import ADAPTATION_PARAMS, MCC_PARAMS, AdaptationStrategy
from warmstart.strategies._params import Param


class DANN(AdaptationStrategy):
    """DANN: gradient reversal + domain discriminator on the pooled features."""

    name = "dann"
    paper = "Ganin et al., Domain-Adversarial Training of Neural Networks, JMLR 2016"
    summary = "domain-adversarial features (gradient reversal, lambda schedule)"
    params: ClassVar[dict[str, Param]] = {
        **ADAPTATION_PARAMS,
        **MCC_PARAMS,
        "disc_hidden": Param(256, 8, 8192, help="hidden width of the domain discriminator"),
        "lambda_gamma": Param(10.0, 0.0, 100.0, help="gamma of the schedule 2/(1+exp(-gamma p))-1"),
    }

    def make_criterion(self, feature_dim: int, n_classes: int) -> nn.Module:
        """Discriminator after a gradient reversal layer."""
        return DomainAdversarialLoss(DomainDiscriminator(feature_dim, self.disc_hidden))

    def adaptation_loss(self, f_s: Tensor, f_t: Tensor, z_s: Tensor, z_t: Tensor, progress: float) -> Tensor:
        """Domain BCE with the reversal coefficient λ_p."""
        return self.criterion_(f_s, f_t, dann_lambda(progress, self.lambda_gamma))
