"""``mmd``: DAN, multi-kernel MMD between source and target features (Long et al., ICML 2015,
"Learning Transferable Features with Deep Adaptation Networks").

Variant: TLlib's simplification — equal kernel weights, Gaussian bandwidths
2^u × the batch's mean squared pairwise distance (u = −3…1), applied to the
pooled features; the unbiased quadratic estimator by default, the paper's
linear-time estimator with ``estimator=linear``. The paper's kernel-weight
optimization and multi-layer adaptation are not implemented.
"""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor, nn

from warmstart.losses.mmd import MultiKernelMMD
from warmstart.strategies._adaptation import ADAPTATION_PARAMS, AdaptationStrategy
from warmstart.strategies._params import Param


class MMD(AdaptationStrategy):
    """DAN / MK-MMD on the pooled features."""

    name = "mmd"
    paper = "Long et al., Learning Transferable Features with Deep Adaptation Networks, ICML 2015"
    summary = "multi-kernel MMD between source and target features (DAN)"
    params: ClassVar[dict[str, Param]] = {
        **ADAPTATION_PARAMS,
        "estimator": Param("quadratic", choices=("quadratic", "linear"), help="MMD estimator"),
    }

    def make_criterion(self, feature_dim: int, n_classes: int) -> nn.Module:
        """Equal-weight Gaussian kernels over 2^-3..2^1 times the mean squared distance."""
        return MultiKernelMMD(estimator=self.estimator)

    def adaptation_loss(self, f_s: Tensor, f_t: Tensor, z_s: Tensor, z_t: Tensor, progress: float) -> Tensor:
        """Squared MK-MMD of the two feature batches."""
        return self.criterion_(f_s, f_t)
