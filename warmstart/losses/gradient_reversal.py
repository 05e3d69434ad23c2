"""Gradient reversal layer (Ganin & Lempitsky, ICML 2015; Ganin et al., JMLR 2016, "Domain-Adversarial
Training of Neural Networks").

Identity in the forward pass, ``-coeff * grad`` in the backward pass, so a domain
classifier placed after it is trained to tell domains apart while the features
before it are trained to confuse it. :func:`dann_lambda` is the paper's schedule
λ_p = 2 / (1 + exp(−γ·p)) − 1 (γ = 10), p the training progress in [0, 1].
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn


class _ReverseGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, coeff: float) -> Tensor:
        ctx.coeff = coeff
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        return -ctx.coeff * grad, None


def reverse_gradient(x: Tensor, coeff: float = 1.0) -> Tensor:
    """Identity on ``x`` whose gradient is multiplied by ``-coeff``."""
    return _ReverseGrad.apply(x, float(coeff))


def dann_lambda(progress: float, gamma: float = 10.0) -> float:
    """DANN's adaptation factor λ_p = 2 / (1 + exp(−γ·p)) − 1 for progress p in [0, 1]."""
    p = min(1.0, max(0.0, float(progress)))
    return 2.0 / (1.0 + math.exp(-gamma * p)) - 1.0


class GradientReversal(nn.Module):
    """Gradient reversal as a module; set :attr:`coeff` (λ) before each step.

    Args:
        coeff: Multiplier of the reversed gradient (λ in the paper).
    """

    def __init__(self, coeff: float = 1.0) -> None:
        super().__init__()
        self.coeff = float(coeff)

    def forward(self, x: Tensor) -> Tensor:
        """Identity; the backward pass returns ``-coeff * grad``."""
        return reverse_gradient(x, self.coeff)

    def extra_repr(self) -> str:
        return f"coeff={self.coeff}"
