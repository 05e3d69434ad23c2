"""MCC (Jin et al., ECCV 2020) as METHODS.md states it: T-rescaled softmax, detached entropy weights
normalized to the batch size, row-normalized class correlation, off-diagonal sum / K."""

from __future__ import annotations

import math

import pytest
import torch

from warmstart.losses.mcc import MinimumClassConfusionLoss, class_confusion, mcc_loss


def _reference(z: torch.Tensor, t: float, detach: bool = True) -> torch.Tensor:
    """The formula written out element by element (an independent implementation)."""
    n, k = z.shape
    p = torch.softmax(z / t, 1)
    h = -(p * torch.log(p + 1e-5)).sum(1)
    if detach:
        h = h.detach()
    w = 1 + torch.exp(-h)
    w = w * n / w.sum()
    c = torch.zeros(k, k)
    for i in range(n):
        for j in range(k):
            for jj in range(k):
                c[j, jj] = c[j, jj] + p[i, j] * w[i] * p[i, jj]
    rows = [c[j] / c[j].sum() for j in range(k)]
    c = torch.stack(rows)
    return sum(c[j, jj] for j in range(k) for jj in range(k) if j != jj) / k


def test_matches_the_formula_and_its_gradient() -> None:
    g = torch.Generator().manual_seed(0)
    z = torch.randn(6, 4, generator=g) * 3
    a, b = z.clone().requires_grad_(), z.clone().requires_grad_()
    got, want = mcc_loss(a, 2.5), _reference(b, 2.5)
    assert torch.allclose(got, want, atol=1e-6)
    got.backward()
    want.backward()
    assert torch.allclose(a.grad, b.grad, atol=1e-6)
    # the entropy weights only re-weight: no gradient flows through them
    c = z.clone().requires_grad_()
    _reference(c, 2.5, detach=False).backward()
    assert not torch.allclose(a.grad, c.grad, atol=1e-6)


def test_rows_sum_to_one_and_extremes() -> None:
    z = torch.randn(8, 5)
    c = class_confusion(z, 2.5)
    assert torch.allclose(c.sum(1), torch.ones(5), atol=1e-5)
    # uniform predictions: every row (1/K, ..., 1/K), loss (K - 1) / K
    assert math.isclose(float(mcc_loss(torch.zeros(7, 5))), 4 / 5, rel_tol=1e-5)
    # confident one-hot predictions on distinct classes: no confusion
    confident = torch.eye(5) * 200
    assert float(mcc_loss(confident)) < 1e-6
    # the temperature rescales: a higher T makes the same logits more confused
    assert float(mcc_loss(z * 3, 1.0)) < float(mcc_loss(z * 3, 5.0))


def test_module() -> None:
    z = torch.randn(4, 3)
    assert torch.equal(MinimumClassConfusionLoss(2.5)(z), mcc_loss(z, 2.5))
    assert list(MinimumClassConfusionLoss().parameters()) == []


@pytest.mark.parametrize("scale", [0.5, 2.0])
def test_weights_normalized_to_batch_size(scale: float) -> None:
    # duplicating the batch leaves the loss unchanged: weights are normalized to the batch size
    z = torch.randn(5, 4) * scale
    assert torch.allclose(mcc_loss(z), mcc_loss(torch.cat([z, z])), atol=1e-6)
