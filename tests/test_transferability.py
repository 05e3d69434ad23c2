"""LogME and LEEP against direct computations, and their ranking behaviour."""

from __future__ import annotations

import math

import torch

from warmstart.transferability import leep, logme


def _evidence_direct(f: torch.Tensor, t: torch.Tensor, alpha: float, beta: float) -> float:
    n, d = f.shape
    a = alpha * torch.eye(d, dtype=torch.float64) + beta * f.T @ f
    m = beta * torch.linalg.solve(a, f.T @ t)
    return float(n / 2 * math.log(beta) + d / 2 * math.log(alpha) - n / 2 * math.log(2 * math.pi)
                 - beta / 2 * ((t - f @ m) ** 2).sum() - alpha / 2 * (m @ m) - torch.logdet(a) / 2)


def test_logme_evidence_is_a_maximum_of_the_direct_formula() -> None:
    g = torch.Generator().manual_seed(0)
    f = torch.randn(40, 6, generator=g, dtype=torch.float64)
    y = (f[:, 0] > 0).long()
    score = logme(f, y, 2)
    # the score equals the mean over classes of the maximized evidence / n: check it beats a grid
    best = []
    for c in range(2):
        t = (y == c).double()
        grid = [_evidence_direct(f, t, a, b) for a in (0.01, 0.1, 1, 10) for b in (0.1, 1, 10, 100)]
        best.append(max(grid) / 40)
    assert score >= sum(best) / 2 - 1e-6
    assert score < sum(best) / 2 + 1.0  # and is not wildly above the grid's best


def test_logme_prefers_informative_features() -> None:
    g = torch.Generator().manual_seed(1)
    y = torch.arange(60) % 3
    good = torch.nn.functional.one_hot(y, 3).double() * 3 + 0.3 * torch.randn(60, 3, generator=g)
    bad = torch.randn(60, 3, generator=g, dtype=torch.float64)
    assert logme(good, y) > logme(bad, y)


def test_leep_matches_definition_and_orders_sources() -> None:
    g = torch.Generator().manual_seed(2)
    y = torch.arange(50) % 2
    theta = torch.softmax(torch.randn(50, 4, generator=g), 1)
    n = 50
    joint = torch.zeros(2, 4, dtype=torch.float64)
    for i in range(n):
        joint[y[i]] += theta[i].double() / n
    cond = joint / joint.sum(0, keepdim=True)
    expected = sum(math.log(float((cond[y[i]] * theta[i].double()).sum())) for i in range(n)) / n
    assert abs(leep(theta, y) - expected) < 1e-9
    aligned = torch.softmax(torch.nn.functional.one_hot(y, 4).float() * 5, 1)
    assert leep(aligned, y) > leep(theta, y)
    assert leep(aligned, y) <= 0
