"""self_training's bad input: its unlabelled batch is mu x batch_size, so a pool that holds a source-sized
batch but not mu of them is refused naming that batch; a pool that makes the loss NaN stops with
TrainingDivergedError. (Views, pseudo-labels and closed-set refusal: tests/strategies/test_fixmatch.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from warmstart.errors import ConfigError, TrainingDivergedError
from warmstart.source import Source
from warmstart.strategies import get_strategy
from warmstart.tasks import Task, get_task

from .test_domain_adaptation import _small_source_task

FAST: dict[str, Any] = {"iterations": 4, "epochs": 2, "batch_size": 8, "unlabeled_ratio": 3, "score_samples": 30,
                        "progress": False, "device": "cpu"}


@pytest.fixture(scope="module")
def source(pretrained_source: Path) -> Source:
    return Source(path=pretrained_source, task_name=_small_source_task("mnist5k-a-300"))


@pytest.fixture(scope="module")
def target() -> Task:
    t = get_task("digits").few_shot(0, seed=0)
    assert t.x_unlabeled is not None and t.y_test is not None
    return t.replace(x_unlabeled=t.x_unlabeled[:48], x_test=t.x_test[:40], y_test=t.y_test[:40])


def test_pool_smaller_than_the_unlabelled_batch_is_refused(target: Task, source: Source) -> None:
    mu_b = FAST["batch_size"] * FAST["unlabeled_ratio"]
    small = target.replace(x_unlabeled=target.x_unlabeled[:mu_b - 1])  # type: ignore[index]
    assert mu_b - 1 >= FAST["batch_size"]  # enough for a source-sized batch, not for mu of them
    with pytest.raises(ConfigError, match=rf"self_training: the unlabelled pool of task 'digits' has {mu_b - 1} "
                                          rf"examples, fewer than one unlabelled batch \({mu_b}\)"):
        get_strategy("self_training", **FAST).fit(small, source)
    # one more example and it trains
    ok = target.replace(x_unlabeled=target.x_unlabeled[:mu_b])  # type: ignore[index]
    s = get_strategy("self_training", bn_adapt="none", select_by="last", **FAST).fit(ok, source)
    assert s.info_["unlabeled_batch"] == mu_b


def test_a_nan_pool_stops_with_training_diverged(target: Task, source: Source) -> None:
    bad = target.replace(x_unlabeled=torch.full_like(target.x_unlabeled, float("nan")))  # type: ignore[arg-type]
    with pytest.raises(TrainingDivergedError, match="training diverged: loss is nan"):
        get_strategy("self_training", bn_adapt="none", **FAST).fit(bad, source)
