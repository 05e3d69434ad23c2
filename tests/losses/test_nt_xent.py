from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from warmstart.errors import ConfigError
from warmstart.losses.nt_xent import NTXentLoss, nt_xent


def _naive(z1: torch.Tensor, z2: torch.Tensor, tau: float) -> float:
    """The paper's formula, written out anchor by anchor."""
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    n2 = len(z)
    n = n2 // 2
    total = 0.0
    for i in range(n2):
        j = (i + n) % n2
        s = [float(z[i] @ z[k]) / tau for k in range(n2)]
        denom = sum(math.exp(s[k]) for k in range(n2) if k != i)
        total += -math.log(math.exp(s[j]) / denom)
    return total / n2


def test_matches_the_formula() -> None:
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g)
    for tau in (0.5, 0.1, 1.0):
        assert float(nt_xent(z1, z2, tau)) == pytest.approx(_naive(z1, z2, tau), rel=1e-5)
    assert float(NTXentLoss()(z1, z2)) == pytest.approx(_naive(z1, z2, 0.5), rel=1e-5)


def test_aligned_views_give_lower_loss_and_gradients_flow() -> None:
    g = torch.Generator().manual_seed(1)
    z = torch.randn(8, 16, generator=g)
    far = torch.randn(8, 16, generator=g)
    assert float(nt_xent(z, z + 0.01 * far)) < float(nt_xent(z, far))
    z1 = z.clone().requires_grad_(True)
    nt_xent(z1, far).backward()
    assert z1.grad is not None and torch.isfinite(z1.grad).all() and z1.grad.abs().sum() > 0


def test_bad_inputs() -> None:
    with pytest.raises(ConfigError, match="same shape"):
        nt_xent(torch.randn(4, 3), torch.randn(5, 3))
    with pytest.raises(ConfigError, match="at least 2"):
        nt_xent(torch.randn(1, 3), torch.randn(1, 3))
    with pytest.raises(ConfigError, match="temperature"):
        NTXentLoss(0.0)
