"""Multi-kernel maximum mean discrepancy (DAN: Long et al., ICML 2015, "Learning Transferable
Features with Deep Adaptation Networks").

Squared MMD between source and target features with the kernel
k = Σ_u (1/m)·exp(−‖x − y‖² / (2 σ_u²)), a sum of Gaussian kernels with **equal
weights** whose bandwidths are a geometric family σ_u² = 2^u · mean pairwise
squared distance of the batch (u = −3…1 by default). This is TLlib's
simplification of DAN: the paper spans 2⁻⁸…2⁸ times a base bandwidth and
optimizes the kernel weights by a quadratic program; we do not. The bandwidth
scale is computed from the batch and detached.

Two estimators: ``quadratic`` (the unbiased U-statistic over all pairs, fine for
small batches; the default) and ``linear`` (the paper's linear-time unbiased
estimate over consecutive pairs).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


def gaussian_kernels(x: Tensor, y: Tensor, scale: Tensor, multipliers: Sequence[float]) -> Tensor:
    """Σ_u exp(−‖x_i − y_j‖² / (2·m_u·scale)) / len(multipliers), for all pairs (i, j)."""
    d2 = torch.cdist(x, y).pow(2)
    return sum(torch.exp(-d2 / (2.0 * m * scale)) for m in multipliers) / len(multipliers)  # type: ignore[return-value]


class MultiKernelMMD(nn.Module):
    """MK-MMD² between two samples of features.

    Args:
        multipliers: Bandwidth multipliers 2^u of the mean squared pairwise distance.
        estimator: ``quadratic`` (unbiased U-statistic) or ``linear`` (linear-time, the paper's).
    """

    def __init__(self, multipliers: Sequence[float] = (0.125, 0.25, 0.5, 1.0, 2.0),
                 estimator: str = "quadratic") -> None:
        super().__init__()
        if estimator not in ("quadratic", "linear"):
            raise ValueError(f"estimator must be quadratic or linear, got {estimator!r}")
        self.multipliers = tuple(float(m) for m in multipliers)
        self.estimator = estimator

    def forward(self, f_s: Tensor, f_t: Tensor) -> Tensor:
        """Squared MK-MMD of source features ``f_s`` (n×d) and target features ``f_t`` (m×d)."""
        z = torch.cat([f_s, f_t])
        with torch.no_grad():
            n = len(z)
            scale = torch.cdist(z, z).pow(2).sum() / max(1, n * n - n)
            scale = scale.clamp_min(1e-8)
        if self.estimator == "linear":
            return self._linear(f_s, f_t, scale)
        k = gaussian_kernels(z, z, scale, self.multipliers)
        ns, nt = len(f_s), len(f_t)
        kss, ktt, kst = k[:ns, :ns], k[ns:, ns:], k[:ns, ns:]
        ss = (kss.sum() - kss.diagonal().sum()) / max(1, ns * (ns - 1))
        tt = (ktt.sum() - ktt.diagonal().sum()) / max(1, nt * (nt - 1))
        return ss + tt - 2.0 * kst.mean()

    def _linear(self, f_s: Tensor, f_t: Tensor, scale: Tensor) -> Tensor:
        m = min(len(f_s), len(f_t)) // 2 * 2
        if m < 2:
            return f_s.sum() * 0.0
        s1, s2, t1, t2 = f_s[0:m:2], f_s[1:m:2], f_t[0:m:2], f_t[1:m:2]

        def k(a: Tensor, b: Tensor) -> Tensor:
            d2 = (a - b).pow(2).sum(1)
            return sum(torch.exp(-d2 / (2.0 * mu * scale)) for mu in self.multipliers) / len(self.multipliers)  # type: ignore[return-value]

        return (k(s1, s2) + k(t1, t2) - k(s1, t2) - k(s2, t1)).mean()
