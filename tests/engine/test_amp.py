"""Mixed precision and channels-last in the Trainer: on by default on CUDA, ignored on CPU."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from warmstart.engine.config import TrainConfig
from warmstart.engine.trainer import Trainer


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 2))


def _data(n: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    y = torch.arange(n) % 2
    x = torch.rand(n, 3, 16, 16, generator=g) * 0.5 + y.view(-1, 1, 1, 1) * 0.5
    return x, y


def _train(device: str, **flags: bool) -> tuple[Trainer, nn.Module]:
    x, y = _data()
    model = _net()
    cfg = TrainConfig(epochs=10, batch_size=16, lr=1e-2, progress=False, device=device, augment="light", **flags)
    trainer = Trainer(model, cfg)
    trainer.fit(x, y)
    return trainer, model


def test_flags_default_on_and_are_ignored_on_cpu() -> None:
    assert TrainConfig().amp and TrainConfig().channels_last
    on, m_on = _train("cpu", amp=True, channels_last=True)
    _, m_off = _train("cpu", amp=False, channels_last=False)
    assert on.amp_dtype is None and not on.scaler.is_enabled() and not on.channels_last
    for (k, a), b in zip(m_on.state_dict().items(), m_off.state_dict().values(), strict=True):
        assert torch.equal(a, b), k  # float32 either way: the very same training
    assert m_on[0].weight.is_contiguous()  # not converted to channels-last


@pytest.mark.ci_may_skip
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("flags", [{}, {"amp": False, "channels_last": False}])
def test_cuda_mixed_precision_trains(flags) -> None:
    trainer, model = _train("cuda", **flags)
    if flags:
        assert trainer.amp_dtype is None and not trainer.channels_last
    else:
        expected = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        assert trainer.amp_dtype == expected and trainer.channels_last
        assert trainer.scaler.is_enabled() == (expected == torch.float16)
        assert model[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert all(p.dtype == torch.float32 for p in model.parameters())  # master weights stay float32
    x, y = _data()
    with torch.no_grad():
        acc = (model.eval()(x.cuda()).argmax(1).cpu() == y).float().mean().item()
    assert acc > 0.9  # it learned the (easy) task in mixed precision too
