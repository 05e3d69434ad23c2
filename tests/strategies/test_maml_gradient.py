"""MAML's meta-gradient against the exact one on linear regression (closed form)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from warmstart.errors import TrainingDivergedError
from warmstart.strategies.maml import inner_loop, meta_loss


def _half_mse(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return 0.5 * ((out.squeeze(1) - y) ** 2).mean()


def _problem() -> tuple[nn.Linear, torch.Tensor, tuple, tuple]:  # type: ignore[type-arg]
    g = torch.Generator().manual_seed(0)
    d = 4
    model = nn.Linear(d, 1, bias=False).double()
    w0 = torch.randn(1, d, generator=g, dtype=torch.float64)
    xs, xq = torch.randn(6, d, generator=g, dtype=torch.float64), torch.randn(9, d, generator=g, dtype=torch.float64)
    ys, yq = torch.randn(6, generator=g, dtype=torch.float64), torch.randn(9, generator=g, dtype=torch.float64)
    return model, w0, (xs, ys), (xq, yq)


@pytest.mark.parametrize("steps", [1, 3])
def test_second_order_meta_gradient_is_exact(steps: int) -> None:
    model, w0, (xs, ys), (xq, yq) = _problem()
    alpha = 0.1
    # L(w) = 1/(2n)‖Xw − y‖²  ⇒  ∇L = A w − b with A = XᵀX/n, b = Xᵀy/n
    a_s, b_s = xs.T @ xs / len(xs), xs.T @ ys / len(xs)
    a_q, b_q = xq.T @ xq / len(xq), xq.T @ yq / len(xq)
    w = w0.flatten()
    for _ in range(steps):
        w = w - alpha * (a_s @ w - b_s)
    jac = torch.linalg.matrix_power(torch.eye(4, dtype=torch.float64) - alpha * a_s, steps)
    exact = jac.T @ (a_q @ w - b_q)
    first_order_exact = a_q @ w - b_q

    for first_order, expected in ((False, exact), (True, first_order_exact)):
        params = {"weight": w0.clone().requires_grad_(True)}
        loss = meta_loss(model, params, (xs, ys), (xq, yq), steps=steps, lr=alpha, first_order=first_order,
                         loss_fn=_half_mse)
        (grad,) = torch.autograd.grad(loss, [params["weight"]])
        torch.testing.assert_close(grad.flatten(), expected, rtol=1e-10, atol=1e-12)
    assert not torch.allclose(exact, first_order_exact)
    fast = inner_loop(model, {"weight": w0.clone().requires_grad_(True)}, xs, ys, steps=steps, lr=alpha,
                      loss_fn=_half_mse)
    torch.testing.assert_close(fast["weight"].flatten(), w)


def test_divergent_inner_lr_is_a_clear_error() -> None:
    model, w0, (xs, ys), _ = _problem()
    with pytest.raises(TrainingDivergedError, match="lower inner_lr"):
        inner_loop(model, {"weight": w0.clone().requires_grad_(True)}, xs, ys, steps=20, lr=1e4,
                   loss_fn=_half_mse)
