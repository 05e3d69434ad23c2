"""``coral``: Deep CORAL (Sun & Saenko, ECCV Workshops 2016, "Deep CORAL: Correlation Alignment for
Deep Domain Adaptation").

Aligns second-order statistics: L = ‖C_s − C_t‖²_F / (4 d²) on the pooled
features. The paper picks the weight so that classification and CORAL losses
are about equal at the end of training; with d = 128 the loss is small, so the
default ``trade_off`` is large.
"""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor, nn

from warmstart.losses.coral import CoralLoss
from warmstart.strategies._adaptation import ADAPTATION_PARAMS, AdaptationStrategy
from warmstart.strategies._params import Param


class DeepCORAL(AdaptationStrategy):
    """Deep CORAL: match the feature covariances of source and target batches."""

    name = "coral"
    paper = "Sun & Saenko, Deep CORAL: Correlation Alignment for Deep Domain Adaptation, ECCV-W 2016"
    summary = "align feature covariances (Deep CORAL)"
    params: ClassVar[dict[str, Param]] = {
        **ADAPTATION_PARAMS,
        "trade_off": Param(100.0, 0.0, 100_000.0, search=(1.0, 1000.0), log=True,
                           help="weight of the CORAL loss"),
    }

    def make_criterion(self, feature_dim: int, n_classes: int) -> nn.Module:
        """The CORAL loss (no parameters)."""
        return CoralLoss()

    def adaptation_loss(self, f_s: Tensor, f_t: Tensor, z_s: Tensor, z_t: Tensor, progress: float) -> Tensor:
        """‖C_s − C_t‖²_F / (4 d²)."""
        return self.criterion_(f_s, f_t)
