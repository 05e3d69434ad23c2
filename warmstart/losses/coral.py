"""Deep CORAL loss (Sun & Saenko, ECCV Workshops 2016, "Deep CORAL: Correlation Alignment for Deep
Domain Adaptation").

L = ‖C_s − C_t‖²_F / (4 d²), with C_s, C_t the (n − 1)-normalized covariance
matrices of the source and target feature batches and d the feature dimension.
"""

from __future__ import annotations

from torch import Tensor, nn


def covariance(f: Tensor) -> Tensor:
    """Unbiased covariance matrix (d×d) of the rows of ``f`` (n×d)."""
    fc = f - f.mean(dim=0, keepdim=True)
    return fc.T @ fc / max(1, len(f) - 1)


class CoralLoss(nn.Module):
    """‖C_s − C_t‖²_F / (4 d²)."""

    def forward(self, f_s: Tensor, f_t: Tensor) -> Tensor:
        """CORAL loss of source features ``f_s`` (n×d) and target features ``f_t`` (m×d)."""
        d = f_s.shape[1]
        return (covariance(f_s) - covariance(f_t)).pow(2).sum() / (4.0 * d * d)
