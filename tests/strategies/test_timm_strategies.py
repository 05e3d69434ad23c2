"""Strategies on a tiny timm backbone (stages from the timm adapter): stage-wise methods work."""

from __future__ import annotations

from pathlib import Path

import pytest

from warmstart.backbones.checkpoint import save_checkpoint
from warmstart.backbones.new_model import new_model
from warmstart.source import Source
from warmstart.strategies import get_strategy
from warmstart.tasks import Task

pytest.importorskip("timm")

FAST = {"epochs": 1, "min_steps": 2, "batch_size": 16, "progress": False, "device": "cpu"}


def test_stagewise_strategies_on_timm_backbone(tiny_target: Task, tmp_path: Path) -> None:
    model = new_model(tiny_target, "timm:test_resnet")
    assert model.backbone.num_stages > 1
    ckpt = save_checkpoint(model, tmp_path / "timm-src", classes=list(tiny_target.classes), source_task="digits")
    src = Source(path=ckpt)
    gu = get_strategy("gradual_unfreeze", **FAST).fit(tiny_target, src)
    n = model.backbone.num_stages
    assert [p["unfrozen_stages"] for p in gu.info_["phases"]] == list(range(n + 1))
    lp = get_strategy("linear_probe", progress=False).fit(tiny_target, src)
    proba = lp.predict_proba(tiny_target.x_test[:4])
    assert proba.shape == (4, 10)
