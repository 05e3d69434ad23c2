"""The ``mcc`` strategy and MCC combined with DANN/CDAN: the loss is on, acts on target predictions,
and lowers their class confusion against source_only at the same budget."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from warmstart.losses.mcc import mcc_loss
from warmstart.source import Source
from warmstart.strategies import get_strategy, strategy_class
from warmstart.tasks import Task, get_task

from .test_domain_adaptation import TINY, _small_source_task


@pytest.fixture(scope="module")
def pair(pretrained_source: Path) -> tuple[Source, Task]:
    """The shared mnist5k checkpoint with a 300-image mnist5k-a source task; digits (shots 0) as target."""
    target = get_task("digits").few_shot(0, seed=0)
    target = target.replace(x_unlabeled=target.x_unlabeled[:96], x_test=target.x_test[:60], y_test=target.y_test[:60])
    return Source(path=pretrained_source, task_name=_small_source_task("mnist5k-a-300")), target


def test_declares_its_paper_and_searchable_params() -> None:
    cls = strategy_class("mcc")
    assert "Jin" in cls.paper and "ECCV 2020" in cls.paper
    table = cls.param_table()
    assert table["temperature"].default == 2.5 and table["temperature"].search
    assert table["trade_off"].default == 1.0 and table["trade_off"].search
    for name in ("dann", "cdan", "self_training"):  # combinable with the adversarial methods and self-training
        assert strategy_class(name).param_table()["mcc"].default == 0.0


@pytest.mark.parametrize("name", ["dann", "self_training"])
def test_mcc_weight_changes_the_method(name: str, pair: tuple[Source, Task]) -> None:
    source, target = pair
    x = target.x_test[:32]
    plain = get_strategy(name, **TINY).fit(target, source)
    combined = get_strategy(name, mcc=1.0, **TINY).fit(target, source)
    again = get_strategy(name, mcc=1.0, **TINY).fit(target, source)
    assert torch.equal(combined.predict_proba(x), again.predict_proba(x))  # reproducible
    assert not torch.allclose(plain.predict_proba(x), combined.predict_proba(x), atol=1e-5)


def test_mcc_lowers_class_confusion_on_the_target(pair: tuple[Source, Task]) -> None:
    source, target = pair
    # the source classifier kept (bottleneck 0): confident predictions from the start
    kw: dict[str, Any] = {**TINY, "epochs": 1, "iters_per_epoch": 60, "select_by": "last", "bottleneck": 0,
                          "lr": 0.05}
    pool = target.x_unlabeled
    base = get_strategy("source_only", **kw).fit(target, source)
    mcc = get_strategy("mcc", trade_off=5.0, **kw).fit(target, source)

    def confusion(s: Any) -> float:
        with torch.no_grad():
            return float(mcc_loss(s.model_.eval()(pool), 1.0))

    c_mcc, c_base = confusion(mcc), confusion(base)
    assert c_mcc < c_base - 0.005, (c_mcc, c_base)
