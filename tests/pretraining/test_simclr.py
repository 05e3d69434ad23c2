from __future__ import annotations

from pathlib import Path

import pytest
import torch

from warmstart.backbones.checkpoint import load_checkpoint
from warmstart.engine import TrainConfig
from warmstart.engine.augment import PRESETS
from warmstart.errors import ConfigError
from warmstart.pretraining import simclr
from warmstart.pretraining.simclr import SimCLRModel, encoder_for, pretrain_simclr, unlabeled_images
from warmstart.source import Source
from warmstart.strategies import get_strategy
from warmstart.tasks import get_task


def _small(name: str, n: int):  # type: ignore[no-untyped-def]
    t = get_task(name)
    idx = torch.arange(n)
    return t.replace(x_train=t.x_train[idx], y_train=t.y_train[idx])


def test_simclr_checkpoint_is_headless_and_transfers(tmp_path: Path) -> None:
    a, b = _small("mnist5k", 160), _small("digits", 96).few_shot(2, seed=0)
    cfg = TrainConfig(epochs=2, batch_size=64, lr=3e-3, progress=False, seed=0)
    ck = pretrain_simclr([a, b], tmp_path / "ssl", config=cfg, widths=(8, 16, 16))
    assert ck.classes is None and ck.model.head is None and ck.meta["n_classes"] == 0
    assert ck.meta["extra"]["method"] == "simclr"
    # the defaults chosen by the ablation (benchmarks/_ssl_probe.py) are what ran
    extra = ck.meta["extra"]
    assert (extra["temperature"], extra["augment"], extra["proj_hidden"], extra["proj_dim"]) == \
        (simclr.TEMPERATURE, simclr.AUGMENT, simclr.PROJ_HIDDEN, simclr.PROJ_DIM)
    assert extra["augment"] in PRESETS and extra["feature_standardized"] is True
    assert ck.meta["extra"]["n_images"] == 160 + len(b.x_train) + len(b.x_unlabeled)
    assert ck.meta["source_task"] == "mnist5k+digits"
    losses = [e["train_loss"] for e in ck.meta["extra"]["history"]]
    assert all(torch.isfinite(torch.tensor(losses)))
    assert not any(k.startswith("projector") for k in ck.model.state_dict())
    # every transfer strategy attaches a new head to it
    target = get_task("digits").few_shot(2, seed=0)
    strat = get_strategy("finetune", epochs=1, min_steps=2, progress=False)
    strat.fit(target, Source(path=tmp_path / "ssl"))
    assert strat.info_["head"] == "new"
    assert strat.predict_proba(target.x_test[:5]).shape == (5, 10)
    # same seed, same weights
    ck2 = pretrain_simclr([a, b], tmp_path / "ssl2", config=cfg, widths=(8, 16, 16))
    w1, w2 = load_checkpoint(tmp_path / "ssl").model.state_dict(), ck2.model.state_dict()
    assert all(torch.equal(w1[k], w2[k]) for k in w1)


def test_standardized_features_have_unit_std_and_the_same_information(tmp_path: Path) -> None:
    """Standardization rescales each feature channel (and nothing else): unit std on the pretraining images."""
    a = _small("mnist5k", 96)
    cfg = TrainConfig(epochs=1, batch_size=32, lr=3e-3, progress=False, seed=0)
    raw = pretrain_simclr(a, tmp_path / "raw", config=cfg, widths=(8, 16, 16), standardize=False)
    std = pretrain_simclr(a, tmp_path / "std", config=cfg, widths=(8, 16, 16))
    assert raw.meta["extra"]["feature_standardized"] is False and std.meta["extra"]["feature_standardized"] is True
    raw.model.eval()
    std.model.eval()
    with torch.no_grad():
        f_raw, f_std = raw.model.features(a.x_train), std.model.features(a.x_train)
    live = f_raw.std(0) > 1e-6
    assert live.any()
    assert torch.allclose(f_std.std(0)[live], torch.ones(int(live.sum())), atol=1e-3)
    assert torch.allclose(f_std[:, live], f_raw[:, live] / f_raw.std(0)[live], rtol=1e-3, atol=1e-5)


def test_projection_head_layers() -> None:
    enc = encoder_for(torch.rand(4, 1, 28, 28), widths=(8, 8, 16))
    head = SimCLRModel(enc, proj_dim=32, hidden=64, layers=3).projector
    linears = [m for m in head if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(16, 64), (64, 64), (64, 32)]
    with pytest.raises(ConfigError, match="at least 2 layers"):
        SimCLRModel(enc, layers=1)


def test_simclr_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="tabular"):
        unlabeled_images([get_task("iris")])
    with pytest.raises(ConfigError, match="data="):
        unlabeled_images([get_task("digits")], data="test")
    with pytest.raises(ConfigError, match="temperature"):
        pretrain_simclr(get_task("digits"), tmp_path / "x", temperature=0)
    with pytest.raises(ConfigError, match="augment='heavy' is not valid for simclr"):
        pretrain_simclr(get_task("digits"), tmp_path / "x", augment="heavy")
    assert not (tmp_path / "x").exists()
