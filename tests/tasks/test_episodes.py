from __future__ import annotations

import pytest
import torch

from warmstart.errors import ConfigError
from warmstart.tasks import get_task
from warmstart.tasks.episodes import EpisodeSampler


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    y = torch.arange(6).repeat_interleave(10)  # 6 classes × 10 examples
    x = torch.arange(60, dtype=torch.float32).reshape(60, 1)  # x identifies the example
    return x, y


def test_shapes_labels_no_overlap_and_reproducible() -> None:
    x, y = _data()
    s = EpisodeSampler(x, y, n_way=3, k_shot=2, q_query=4, seed=7)
    ep = s.episode(5)
    assert ep.x_support.shape == (6, 1) and ep.x_query.shape == (12, 1)
    assert ep.y_support.tolist() == [0, 0, 1, 1, 2, 2]
    assert ep.y_query.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    ids_s, ids_q = ep.x_support.flatten().long(), ep.x_query.flatten().long()
    assert not set(ids_s.tolist()) & set(ids_q.tolist())
    # relabelling: the original class of every example is the chosen class of its episode label
    assert (y[ids_s] == torch.tensor(ep.classes)[ep.y_support]).all()
    assert (y[ids_q] == torch.tensor(ep.classes)[ep.y_query]).all()
    again = EpisodeSampler(x, y, n_way=3, k_shot=2, q_query=4, seed=7).episode(5)
    assert torch.equal(again.x_support, ep.x_support) and again.classes == ep.classes
    other = [s.episode(i).x_support for i in range(6)]
    assert any(not torch.equal(o, ep.x_support) for o in other)
    assert not torch.equal(EpisodeSampler(x, y, 3, 2, 4, seed=8).episode(5).x_query, ep.x_query)


def test_class_subset_and_task_split() -> None:
    x, y = _data()
    s = EpisodeSampler(x, y, n_way=2, k_shot=1, q_query=1, classes=[4, 5], seed=0)
    for ep in s.episodes(10):
        assert sorted(ep.classes) == [4, 5]
    task = get_task("digits")
    s = EpisodeSampler.from_task(task, 5, 1, 3, split="test", classes=["5", "6", "7", "8", "9"], seed=0)
    ep = s.episode(0)
    assert set(ep.class_names) == {"5", "6", "7", "8", "9"}
    t = ep.as_task("ep", "image", task.input_shape)
    assert t.shots == 1 and t.n_classes == 5 and len(t.y_test) == 15
    t.validate()


def test_bad_requests() -> None:
    x, y = _data()
    with pytest.raises(ConfigError, match="7-way episodes need 7 classes, only 6"):
        EpisodeSampler(x, y, n_way=7, k_shot=1)
    with pytest.raises(ConfigError, match="fewer than k_shot"):
        EpisodeSampler(x, y, n_way=2, k_shot=5, q_query=6)
    with pytest.raises(ConfigError, match="3-way"):
        EpisodeSampler(x, y, n_way=3, k_shot=1, classes=[0, 1])
    with pytest.raises(ConfigError, match="no examples"):
        EpisodeSampler(x, y, n_way=2, k_shot=1, classes=[0, 9])
    with pytest.raises(ConfigError, match="no class"):
        EpisodeSampler.from_task(get_task("digits"), 2, 1, 1, classes=["x"])
