"""BYOL pretraining: the loss falls, a head-less standardized checkpoint, exact resume, refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from warmstart.engine import LambdaCallback, TrainConfig
from warmstart.engine.callbacks import extra_callbacks
from warmstart.errors import CheckpointError, ConfigError, IncompatibleError
from warmstart.losses.byol import byol_loss
from warmstart.pretraining.byol import BYOLModel, pretrain_byol, target_momentum
from warmstart.pretraining.simclr import encoder_for
from warmstart.source import Source
from warmstart.strategies import get_strategy
from warmstart.tasks import Task, get_task

WIDTHS = (8, 16, 16)


def _small(name: str, n: int) -> Task:
    t = get_task(name)
    g = torch.Generator().manual_seed(0)
    idx = torch.randperm(len(t.y_train), generator=g)[:n]
    return t.replace(x_train=t.x_train[idx], y_train=t.y_train[idx])


def config(epochs: int) -> TrainConfig:
    return TrainConfig(epochs=epochs, batch_size=32, lr=3e-3, seed=0, device="cpu", progress=False)


def test_byol_loss_is_normalized_mse_with_a_constant_target() -> None:
    q = torch.randn(6, 5, requires_grad=True)
    z = torch.randn(6, 5, requires_grad=True)
    loss = byol_loss(q, z)
    expected = ((q / q.norm(dim=1, keepdim=True) - z / z.norm(dim=1, keepdim=True)) ** 2).sum(1).mean()
    assert torch.allclose(loss, expected, atol=1e-6)
    loss.backward()
    assert q.grad is not None and z.grad is None  # no gradient into the target
    assert float(byol_loss(z.detach(), 3 * z.detach())) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ConfigError, match="same shape"):
        byol_loss(torch.randn(4, 3), torch.randn(4, 2))


def test_target_momentum_rises_from_base_to_one() -> None:
    assert target_momentum(0.99, 0, 100) == pytest.approx(0.99)
    assert target_momentum(0.99, 50, 100) == pytest.approx(0.995)
    assert target_momentum(0.99, 100, 100) == pytest.approx(1.0)


def test_target_network_follows_the_online_one_by_ema() -> None:
    model = BYOLModel(encoder_for(torch.rand(8, 1, 28, 28), widths=WIDTHS), proj_dim=8, proj_hidden=16,
                      pred_hidden=16)
    assert all(not p.requires_grad for p in model.target_parameters())
    with torch.no_grad():
        for p in model.online_parameters():
            p.add_(1.0)
    before = [t.clone() for t in model.target_parameters()]
    model.update_target(0.75)
    for t, b, o in zip(model.target_parameters(), before, model.online_parameters(), strict=True):
        assert torch.allclose(t, 0.75 * b + 0.25 * o)


def test_byol_loss_falls_and_checkpoint_is_headless_standardized_and_transfers(tmp_path: Path) -> None:
    a, b = _small("mnist5k", 128), _small("digits", 64)
    ck = pretrain_byol([a, b], tmp_path / "byol", config=config(6), widths=WIDTHS, proj_dim=16,
                       proj_hidden=32, pred_hidden=32)
    losses = [e["train_loss"] for e in ck.meta["extra"]["history"]]
    assert len(losses) == 6 and all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < losses[0]
    assert ck.classes is None and ck.model.head is None and ck.meta["n_classes"] == 0
    extra = ck.meta["extra"]
    assert extra["method"] == "byol" and extra["n_images"] == 192 and extra["feature_standardized"] is True
    assert ck.meta["source_task"] == "mnist5k+digits" and ck.meta["metrics"]["train"]["byol"] == losses[-1]
    assert not any(k.split(".")[0] in ("projector", "predictor", "target_encoder", "target_projector")
                   for k in ck.model.state_dict())
    # the features have unit standard deviation per channel on the pretraining images
    ck.model.eval()
    with torch.no_grad():
        std = ck.model.features(torch.cat([a.x_train, b.x_train])).std(0)
    assert torch.allclose(std[std > 0], torch.ones_like(std[std > 0]), atol=1e-3)
    # a transfer strategy attaches a new head to it
    target = get_task("digits").few_shot(2, seed=0)
    strat = get_strategy("linear_probe", progress=False)
    strat.fit(target, Source(path=tmp_path / "byol"))
    assert strat.info_["head"] == "new"
    assert strat.predict_proba(target.x_test[:5]).shape == (5, 10)


def _stop_at_epoch_two(epoch: int, logs: dict, model: object) -> None:
    if epoch == 2:
        raise KeyboardInterrupt


def test_interrupted_then_resumed_equals_uninterrupted(tmp_path: Path) -> None:
    """Interrupt a 3-epoch run at the end of epoch 2 and resume: the weights equal an uninterrupted run's.

    The target network, the optimizer, the generators and the momentum schedule must all
    come back from ``out/.resume`` for this to hold.
    """
    task = _small("mnist5k", 96)
    kw: dict[str, Any] = {"widths": WIDTHS, "proj_dim": 8, "proj_hidden": 16, "pred_hidden": 16}
    full = pretrain_byol(task, tmp_path / "full", config=config(3), **kw)
    out = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt), extra_callbacks(LambdaCallback(_stop_at_epoch_two)):
        pretrain_byol(task, out, config=config(3), **kw)
    assert [p.name for p in out.iterdir()] == [".resume"]
    resumed = pretrain_byol(task, out, config=config(3), resume=True, **kw)
    a, b = full.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [e["train_loss"] for e in full.meta["extra"]["history"]] == \
        [e["train_loss"] for e in resumed.meta["extra"]["history"]]
    assert not (out / ".resume").exists()
    with pytest.raises(CheckpointError, match="no interrupted run"):
        pretrain_byol(task, out, config=config(1), resume=True, **kw)


def test_resume_state_of_another_method_is_refused(tmp_path: Path) -> None:
    from warmstart.pretraining.simclr import pretrain_simclr

    task = _small("mnist5k", 64)
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt), extra_callbacks(LambdaCallback(_stop_at_epoch_two)):
        pretrain_simclr(task, out, config=config(3), widths=WIDTHS)
    with pytest.raises(CheckpointError, match="does not fit this one"):
        pretrain_byol(task, out, config=config(3), resume=True, widths=WIDTHS)


def test_byol_bad_input(tmp_path: Path) -> None:
    digits = get_task("digits")
    out = tmp_path / "x"
    with pytest.raises(ConfigError, match="momentum"):
        pretrain_byol(digits, out, momentum=1.0)
    with pytest.raises(ConfigError, match="augment='heavy' is not valid for byol"):
        pretrain_byol(digits, out, augment="heavy")
    with pytest.raises(ConfigError, match="byol pretrains on images; task 'iris' is tabular"):
        pretrain_byol(get_task("iris"), out)
    with pytest.raises(ConfigError, match="batch_size >= 2"):
        pretrain_byol(digits, out, config=TrainConfig(batch_size=1))
    with pytest.raises(ConfigError, match="head sizes must be >= 1"):
        pretrain_byol(digits, out, config=config(1), proj_dim=0)
    with pytest.raises(IncompatibleError, match="text encoder; byol pretrains on image data"):
        pretrain_byol(digits, out, backbone="hf:some/model")
    assert not out.exists()
