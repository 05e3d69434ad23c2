"""Mixed precision (on by default on CUDA, ignored on CPU) and channels-last (on by default for a model with
2-D convolutions, on every device) in the Trainer."""

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


def test_amp_is_ignored_on_cpu_and_channels_last_is_not() -> None:
    assert TrainConfig().amp and TrainConfig().channels_last
    on, m_on = _train("cpu", amp=True, channels_last=True)
    off, m_off = _train("cpu", amp=False, channels_last=False)
    assert on.amp_dtype is None and not on.scaler.is_enabled()
    assert on.channels_last and m_on[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert not off.channels_last and m_off[0].weight.is_contiguous()
    assert all(p.dtype == torch.float32 for p in m_on.parameters())  # float32 either way
    # the same training up to the kernels' rounding (the conv bias before batch norm gets no gradient but
    # rounding's, so weights are not compared): the same predictions
    x, y = _data()
    with torch.no_grad():
        pred = m_on.eval()(x).argmax(1)
        assert torch.equal(pred, m_off.eval()(x).argmax(1)) and (pred == y).float().mean() > 0.9


def test_channels_last_leaves_a_model_without_convolutions_alone() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 2))
    x, y = _data()
    trainer = Trainer(model, TrainConfig(epochs=1, batch_size=16, progress=False, device="cpu"))
    trainer.fit(x, y)
    assert not trainer.channels_last


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
