"""protonet and maml end to end on a tiny budget: meta-train on mnist5k, adapt to digits episodes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from warmstart.errors import ConfigError, TrainingDivergedError
from warmstart.source import Source
from warmstart.strategies import get_strategy, list_strategies
from warmstart.strategies.maml import BatchStatNorm2d
from warmstart.tasks import get_task
from warmstart.tasks.episodes import EpisodeSampler
from warmstart.transfer import transfer


@pytest.fixture(scope="module")
def episode_task():  # type: ignore[no-untyped-def]
    d = get_task("digits")
    return EpisodeSampler.from_task(d, 5, 3, 6, split="test", seed=0).episode(0).as_task(
        "digits-episode", "image", d.input_shape)


def test_registered() -> None:
    assert {"protonet", "maml"} <= set(list_strategies())


def test_protonet_adapts_and_caches_meta_training(pretrained_source: Path, episode_task) -> None:  # type: ignore[no-untyped-def]
    src = Source(path=pretrained_source, task_name="mnist5k")
    s = get_strategy("protonet", meta_episodes=4, meta_ways=5, pretrain_epochs=0, progress=False,
                     source_classes="0,1,2,3,4")
    s.fit(episode_task, src)
    assert s.info_["meta_trained"]["cached"] is False and s.info_["meta_trained"]["ways"] == 5
    assert s.score(episode_task.x_test, episode_task.y_test) > 0.3  # chance is 0.2
    # the prototype head is exact: logits = −‖f − c_k‖² up to a per-example constant
    feats = s.model_.features(episode_task.x_test)
    protos = torch.stack([s.model_.features(episode_task.x_train)[episode_task.y_train == k].mean(0)
                          for k in range(5)])
    d2 = torch.cdist(feats, protos).pow(2)
    torch.testing.assert_close(torch.softmax(-d2, 1), s.predict_proba(episode_task.x_test), atol=1e-4, rtol=1e-4)
    model_before = s._meta_cache[1]
    s.fit(episode_task, src)  # same instance: no second meta-training
    assert s._meta_cache[1] is model_before
    s2 = get_strategy("protonet", meta_episodes=4, meta_ways=5, pretrain_epochs=0, progress=False,
                     source_classes="0,1,2,3,4")
    s2.fit(episode_task, src)  # new instance: loaded from the disk cache
    assert s2.info_["meta_trained"]["cached"] is True
    with pytest.raises(ConfigError, match="no class 'x'"):
        get_strategy("protonet", meta_episodes=1, pretrain_epochs=0, source_classes="0,x",
                     progress=False).fit(episode_task, src)
    with pytest.raises(ConfigError, match="source task"):
        get_strategy("protonet", meta_episodes=1, progress=False).fit(episode_task, None)


@pytest.mark.parametrize("first_order", [False, True])
def test_maml_meta_trains_and_adapts(pretrained_source: Path, episode_task, first_order: bool) -> None:  # type: ignore[no-untyped-def]
    src = Source(path=pretrained_source, task_name="mnist5k")
    s = get_strategy("maml", meta_iterations=2, meta_batch=2, inner_steps=2, adapt_steps=5, meta_queries=3,
                     first_order=first_order, progress=False, source_classes="0,1,2,3,4")
    s.fit(episode_task, src)
    info = s.info_["meta_trained"]
    assert info["first_order"] is first_order and info["iterations"] == 2
    assert s.info_["head"] == "new" and s.info_["head_init"] == "meta-learned"
    assert any(isinstance(m, BatchStatNorm2d) for m in s.model_.modules())
    assert s.score(episode_task.x_train, episode_task.y_train) >= 0.6  # adaptation fits the support set
    assert s.score(episode_task.x_test, episode_task.y_test) > 0.25  # chance is 0.2


def test_maml_divergent_inner_lr(pretrained_source: Path, episode_task) -> None:  # type: ignore[no-untyped-def]
    src = Source(path=pretrained_source, task_name="mnist5k")
    s = get_strategy("maml", meta_iterations=1, meta_batch=1, inner_steps=3, meta_queries=2,
                     inner_lr=1e5, progress=False)
    with pytest.raises(TrainingDivergedError, match="lower inner_lr"):
        s.fit(episode_task, src)


def test_transfer_runs_protonet_few_shot(pretrained_source: Path) -> None:
    res = transfer("digits", "protonet", source=pretrained_source, source_task="mnist5k", shots=2,
                   params={"meta_episodes": 2, "meta_ways": 3, "meta_queries": 2, "pretrain_epochs": 0},
                   progress=False)
    assert res["strategy"] == "protonet" and res["test"]["accuracy"] > 0.3
