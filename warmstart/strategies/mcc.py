"""``mcc``: minimum class confusion (Jin, Wang, Long, Wang, ECCV 2020, "Minimum Class Confusion for
Versatile Domain Adaptation").

Source cross-entropy plus ``trade_off`` · L_mcc on the target predictions
(:mod:`warmstart.losses.mcc`: temperature-rescaled softmax, uncertainty weights
normalized to the batch size, row-normalized class correlation, off-diagonal sum / K).
No domain discriminator. To combine it with an adversarial method instead, give
``dann`` or ``cdan`` the ``mcc`` weight.
"""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor, nn

from warmstart.losses.mcc import MinimumClassConfusionLoss
from warmstart.strategies._adaptation import ADAPTATION_PARAMS, AdaptationStrategy
from warmstart.strategies._params import Param


class MCC(AdaptationStrategy):
    """MCC: reduce the confusion between classes in the target predictions."""

    name = "mcc"
    paper = "Jin et al., Minimum Class Confusion for Versatile Domain Adaptation, ECCV 2020"
    summary = "minimum class confusion on target predictions (no discriminator)"
    params: ClassVar[dict[str, Param]] = {
        **ADAPTATION_PARAMS,
        "trade_off": Param(1.0, 0.0, 1000.0, search=(0.3, 3.0), log=True, help="weight of the MCC loss"),
        "temperature": Param(2.5, 0.01, 100.0, search=(1.0, 5.0), help="temperature T of the rescaled softmax"),
    }

    def make_criterion(self, feature_dim: int, n_classes: int) -> nn.Module:
        """The MCC loss (no parameters)."""
        return MinimumClassConfusionLoss(self.temperature)

    def adaptation_loss(self, f_s: Tensor, f_t: Tensor, z_s: Tensor, z_t: Tensor, progress: float) -> Tensor:
        """L_mcc of the target logits."""
        return self.criterion_(z_t)
