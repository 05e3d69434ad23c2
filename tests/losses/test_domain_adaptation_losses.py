"""Domain-adaptation losses: gradient reversal, DANN schedule, CDAN maps and weights, MK-MMD, CORAL."""

from __future__ import annotations

import math

import pytest
import torch

from warmstart.losses.cdan import (
    ConditionalDomainAdversarialLoss,
    MultilinearMap,
    RandomizedMultilinearMap,
    cdan_map,
    entropy_weights,
    prediction_entropy,
)
from warmstart.losses.coral import CoralLoss, covariance
from warmstart.losses.domain_discriminator import DomainAdversarialLoss, DomainDiscriminator
from warmstart.losses.gradient_reversal import GradientReversal, dann_lambda, reverse_gradient
from warmstart.losses.mmd import MultiKernelMMD


def test_gradient_reversal_is_identity_forward_and_negates_scaled_gradient() -> None:
    x = torch.randn(5, 3, requires_grad=True)
    y = reverse_gradient(x, 0.7)
    assert torch.equal(y, x)
    (y * torch.arange(3.0)).sum().backward()
    assert torch.allclose(x.grad, -0.7 * torch.arange(3.0).expand(5, 3))
    layer = GradientReversal(2.0)
    x2 = torch.randn(4, requires_grad=True)
    layer(x2).sum().backward()
    assert torch.allclose(x2.grad, torch.full((4,), -2.0))


def test_dann_lambda_schedule() -> None:
    assert dann_lambda(0.0) == 0.0
    assert dann_lambda(0.5) == pytest.approx(2 / (1 + math.exp(-5)) - 1)
    assert dann_lambda(1.0) == pytest.approx(2 / (1 + math.exp(-10)) - 1)
    assert dann_lambda(2.0) == dann_lambda(1.0)  # progress is clipped


def test_domain_adversarial_loss_trains_discriminator_and_reverses_features() -> None:
    torch.manual_seed(0)
    loss_fn = DomainAdversarialLoss(DomainDiscriminator(4, 16))
    f_s = (torch.randn(32, 4) + 2).requires_grad_()
    f_t = torch.randn(32, 4)
    loss = loss_fn(f_s, f_t, coeff=1.0)
    loss.backward()
    # the gradient reaching the features is the negative of the plain discriminator loss gradient
    f_plain = f_s.detach().clone().requires_grad_()
    from warmstart.losses.domain_discriminator import domain_bce

    d = loss_fn.discriminator(torch.cat([f_plain, f_t]))
    domain_bce(d[:32], d[32:]).backward()
    assert torch.allclose(f_s.grad, -f_plain.grad, atol=1e-6)
    params = list(loss_fn.parameters())
    for _ in range(60):  # plain gradient descent (no torch.optim: keeps the test fast)
        for p in params:
            p.grad = None
        loss_fn(f_s.detach(), f_t).backward()
        with torch.no_grad():
            for p in params:
                p -= 0.1 * p.grad
    assert loss_fn.last_accuracy > 0.9  # separable domains are told apart


def test_multilinear_map_is_flattened_outer_product() -> None:
    f, g = torch.randn(3, 4), torch.softmax(torch.randn(3, 2), 1)
    out = MultilinearMap()(f, g)
    assert out.shape == (3, 8)
    assert torch.allclose(out[1].view(2, 4), torch.outer(g[1], f[1]))


def test_randomized_map_formula_and_switch() -> None:
    m = RandomizedMultilinearMap(6, 3, out_dim=16, seed=1)
    f, g = torch.randn(2, 6), torch.softmax(torch.randn(2, 3), 1)
    expected = (f @ m.r_f) * (g @ m.r_g) / 4.0
    assert torch.allclose(m(f, g), expected)
    assert not m.r_f.requires_grad and "r_f" in dict(m.named_buffers())
    small, width = cdan_map(64, 10, max_multilinear=4096)
    assert isinstance(small, MultilinearMap) and width == 640
    big, width = cdan_map(512, 10, max_multilinear=4096, randomized_dim=1024)
    assert isinstance(big, RandomizedMultilinearMap) and width == 1024


def test_entropy_weights_normalized_per_half() -> None:
    g = torch.softmax(torch.randn(10, 4) * 3, 1)
    w = entropy_weights(g, 4)
    assert w[:4].mean() == pytest.approx(1.0) and w[4:].mean() == pytest.approx(1.0)
    raw = 1 + torch.exp(-prediction_entropy(g))
    assert torch.allclose(w[:4], raw[:4] / raw[:4].mean())
    # confident examples weigh more than uncertain ones
    g2 = torch.tensor([[0.97, 0.01, 0.01, 0.01], [0.25, 0.25, 0.25, 0.25]])
    w2 = entropy_weights(torch.cat([g2, g2]), 2)
    assert w2[0] > w2[1]


def test_cdan_loss_detaches_predictions_and_uses_weights() -> None:
    torch.manual_seed(0)
    loss_fn = ConditionalDomainAdversarialLoss(DomainDiscriminator(12, 8), MultilinearMap(), True)
    f_s, f_t = torch.randn(6, 4, requires_grad=True), torch.randn(6, 4)
    z_s, z_t = torch.randn(6, 3, requires_grad=True), torch.randn(6, 3)
    loss_fn(f_s, f_t, z_s, z_t).backward()
    assert f_s.grad is not None and z_s.grad is None  # predictions are detached


def test_mmd_zero_for_same_sample_positive_for_shift() -> None:
    torch.manual_seed(0)
    mmd = MultiKernelMMD()
    a, b = torch.randn(64, 8), torch.randn(64, 8)
    same = mmd(a, b)
    shifted = mmd(a, b + 1.5)
    assert abs(float(same)) < 0.05 < float(shifted)
    lin = MultiKernelMMD(estimator="linear")
    assert float(lin(a, b + 1.5)) > abs(float(lin(a, b)))
    with pytest.raises(ValueError):
        MultiKernelMMD(estimator="cubic")


def test_coral_formula() -> None:
    torch.manual_seed(0)
    fs, ft = torch.randn(20, 5), torch.randn(30, 5) * 2
    cs = torch.cov(fs.T)
    ct = torch.cov(ft.T)
    assert torch.allclose(covariance(fs), cs, atol=1e-5)
    expected = ((cs - ct) ** 2).sum() / (4 * 25)
    assert torch.allclose(CoralLoss()(fs, ft), expected, atol=1e-5)
    assert float(CoralLoss()(fs, fs + 3.0)) == pytest.approx(0.0, abs=1e-6)  # a shift has equal covariance
