"""Folding feature standardization into the last batch norm: exact where the layout allows, a no-op elsewhere."""

from __future__ import annotations

import torch

from warmstart.backbones.classifier import Classifier
from warmstart.pretraining._feature_scale import standardize_features
from warmstart.pretraining.simclr import encoder_for


def _train_a_little(enc: Classifier, x: torch.Tensor) -> None:
    enc.train()
    with torch.no_grad():  # running statistics away from their initial values
        for _ in range(3):
            enc.features(x)


def test_smallcnn_features_become_unit_std_per_channel_and_keep_their_direction() -> None:
    torch.manual_seed(0)
    x = torch.rand(64, 1, 28, 28)
    enc = encoder_for(x, widths=(4, 8, 8))
    _train_a_little(enc, x)
    enc.eval()
    with torch.no_grad():
        before = enc.features(x)
    assert standardize_features(enc, x, batch_size=16) is True
    assert not enc.training
    with torch.no_grad():
        after = enc.features(x)
    live = before.std(0) > 1e-6
    assert live.any()
    assert torch.allclose(after.std(0)[live], torch.ones(int(live.sum())), atol=1e-4)
    assert torch.allclose(after[:, live], before[:, live] / before.std(0)[live], rtol=1e-4, atol=1e-6)


def test_other_layouts_are_left_unchanged() -> None:
    torch.manual_seed(0)
    x = torch.rand(16, 1, 28, 28)
    enc = encoder_for(x, "resnet", width=4)  # the last stage ends in a residual block
    state = {k: v.clone() for k, v in enc.state_dict().items()}
    enc.train()
    assert standardize_features(enc, x) is False
    assert enc.training
    assert all(torch.equal(state[k], v) for k, v in enc.state_dict().items())
    cut = encoder_for(x, widths=(4, 8, 8))
    cut.depth = 2  # a cut encoder's features are not the last stage's
    assert standardize_features(cut, x) is False
