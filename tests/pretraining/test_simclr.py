from __future__ import annotations

from pathlib import Path

import pytest
import torch

from warmstart.backbones.checkpoint import load_checkpoint
from warmstart.engine import TrainConfig
from warmstart.errors import ConfigError
from warmstart.pretraining.simclr import pretrain_simclr, unlabeled_images
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


def test_simclr_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="tabular"):
        unlabeled_images([get_task("iris")])
    with pytest.raises(ConfigError, match="data="):
        unlabeled_images([get_task("digits")], data="test")
    with pytest.raises(ConfigError, match="temperature"):
        pretrain_simclr(get_task("digits"), tmp_path / "x", temperature=0)
    assert not (tmp_path / "x").exists()
