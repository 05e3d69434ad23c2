"""``cdan``: conditional adversarial domain adaptation, CDAN / CDAN+E (Long et al., NeurIPS 2018,
"Conditional Adversarial Domain Adaptation").

The discriminator sees the multilinear map f ⊗ g of features and (detached)
softmax predictions, or the randomized map (R_f f) ⊙ (R_g g)/√1024 when
d_f·d_g > ``max_multilinear`` (4096, as in the paper); with ``entropy=True``
(CDAN+E, the default) each example's domain loss is weighted by 1 + exp(−H(g)),
normalized within the source and the target halves. Gradient reversal with DANN's
λ_p schedule and learning-rate annealing (shared loop). ``mcc > 0`` adds minimum class
confusion on the target predictions (CDAN+MCC, Jin et al. 2020).
"""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor, nn

from warmstart.losses.cdan import ConditionalDomainAdversarialLoss, cdan_map
from warmstart.losses.domain_discriminator import DomainDiscriminator
from warmstart.losses.gradient_reversal import dann_lambda
from warmstart.strategies._adaptation import ADAPTATION_PARAMS, MCC_PARAMS, AdaptationStrategy
from warmstart.strategies._params import Param


class CDAN(AdaptationStrategy):
    """CDAN(+E): adversarial alignment of the joint (feature, prediction) distribution."""

    name = "cdan"
    paper = "Long et al., Conditional Adversarial Domain Adaptation, NeurIPS 2018"
    summary = "conditional adversarial (multilinear map, entropy conditioning)"
    params: ClassVar[dict[str, Param]] = {
        **ADAPTATION_PARAMS,
        **MCC_PARAMS,
        "entropy": Param(True, help="CDAN+E: weight examples by 1 + exp(-entropy)"),
        "randomized": Param("auto", choices=("auto", "yes", "no"),
                            help="randomized multilinear map: auto = when d_f x d_g > max_multilinear"),
        "max_multilinear": Param(4096, 1, 10_000_000, help="largest d_f x d_g for the exact multilinear map"),
        "randomized_dim": Param(1024, 8, 65536, help="output width d of the randomized map"),
        "disc_hidden": Param(256, 8, 8192, help="hidden width of the domain discriminator"),
        "lambda_gamma": Param(10.0, 0.0, 100.0, help="gamma of the schedule 2/(1+exp(-gamma p))-1"),
    }

    def make_criterion(self, feature_dim: int, n_classes: int) -> nn.Module:
        """Map (multilinear or randomized) → gradient reversal → discriminator."""
        limit = {"auto": self.max_multilinear, "yes": 0, "no": 10**12}[self.randomized]
        mapping, width = cdan_map(feature_dim, n_classes, limit, self.randomized_dim, self.seed)
        self.info_["cdan_map"] = f"{type(mapping).__name__} ({width})"
        return ConditionalDomainAdversarialLoss(DomainDiscriminator(width, self.disc_hidden), mapping,
                                                entropy_conditioning=self.entropy)

    def adaptation_loss(self, f_s: Tensor, f_t: Tensor, z_s: Tensor, z_t: Tensor, progress: float) -> Tensor:
        """Conditional domain BCE with the reversal coefficient λ_p."""
        return self.criterion_(f_s, f_t, z_s, z_t, dann_lambda(progress, self.lambda_gamma))
