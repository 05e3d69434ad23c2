"""FixMatch's masked pseudo-label loss and FlexMatch's class-wise thresholds."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from warmstart.losses.fixmatch import FlexMatchThresholds, fixmatch_loss


def test_masked_mean_over_the_whole_batch_and_no_gradient_through_the_weak_view() -> None:
    z_weak = torch.tensor([[10.0, 0.0, 0.0], [0.0, 0.3, 0.0], [0.0, 0.0, 8.0]], requires_grad=True)
    z_strong = torch.randn(3, 3, requires_grad=True)
    loss, mask, pseudo = fixmatch_loss(z_weak, z_strong, 0.95)
    assert mask.tolist() == [True, False, True]
    assert pseudo.tolist() == [0, 1, 2]
    ce = F.cross_entropy(z_strong, pseudo, reduction="none")
    # the masked examples count as zeros in the mean
    assert math.isclose(float(loss.detach()), float((ce[0] + ce[2]).detach() / 3), rel_tol=1e-6)
    loss.backward()
    assert z_weak.grad is None and z_strong.grad is not None
    assert torch.equal(z_strong.grad[1], torch.zeros(3))


def test_class_wise_thresholds_index_by_pseudo_label() -> None:
    z_weak = torch.log(torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.7, 0.2]]))
    _, mask, _ = fixmatch_loss(z_weak, torch.zeros(2, 3), torch.tensor([0.5, 0.9, 0.9]))
    assert mask.tolist() == [True, False]


def test_flexmatch_thresholds_follow_learning_status() -> None:
    flex = FlexMatchThresholds(10, 3, 0.9)
    # before any confident prediction every class is unlearned: threshold 0 (FlexMatch's warm-up)
    assert torch.equal(flex.thresholds(), torch.zeros(3))
    onehot = torch.eye(3) * 50
    flex.update(torch.tensor([0, 1, 2, 3]), onehot[[0, 0, 0, 0]])
    flex.update(torch.tensor([4, 5]), onehot[[1, 1]])
    flex.update(torch.tensor([6]), torch.zeros(1, 3))  # not confident: stays unused
    # sigma = (4, 2, 0), unused = 4: beta = (1, 0.5, 0), tau_c = beta / (2 - beta) * 0.9
    assert torch.allclose(flex.thresholds(), torch.tensor([0.9, 0.3, 0.0]))
    flex.update(torch.tensor([0]), onehot[[2]])  # a later confident prediction replaces the earlier one
    assert torch.allclose(flex.thresholds(), torch.tensor([0.9 * 0.75 / 1.25, 0.9 * 0.5 / 1.5, 0.9 * 0.25 / 1.75]))
