from __future__ import annotations

import pytest
import torch

from warmstart.errors import ConfigError
from warmstart.tasks import Task
from warmstart.tasks.rotation_classes import rotate_quarter_turns, with_rotation_classes


def _task(h: int = 4, w: int = 4) -> Task:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(6, 1, h, w, generator=g)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    return Task(name="t", x_train=x, y_train=y, x_val=x[:3], y_val=y[:3], x_test=x[3:], y_test=y[3:],
                classes=["a", "b", "c"], modality="image", input_shape=(1, h, w), x_unlabeled=x[:2])


def test_every_class_and_quarter_turn_is_a_class() -> None:
    t = _task()
    r = with_rotation_classes(t)
    assert r.n_classes == 12 and r.classes[:3] == ["a", "b", "c"] and r.classes[3:6] == ["a@90", "b@90", "c@90"]
    assert r.y_val is not None and r.x_unlabeled is not None
    assert len(r.y_train) == 24 and len(r.y_val) == 12 and len(r.y_test) == 12 and len(r.x_unlabeled) == 8
    for j in range(4):
        block = slice(6 * j, 6 * (j + 1))
        assert torch.equal(r.x_train[block], torch.rot90(t.x_train, j, dims=(2, 3)))
        assert torch.equal(r.y_train[block], t.y_train + 3 * j)
    # the turns are distinct images (no class duplicated by accident) and four turns are the identity
    assert not torch.equal(r.x_train[:6], r.x_train[6:12])
    assert torch.equal(rotate_quarter_turns(rotate_quarter_turns(t.x_train, 3), 1), t.x_train)
    r.validate()
    assert r.provenance["rotation_classes"] == [0, 1, 2, 3]
    two = with_rotation_classes(t, turns=(0, 2))
    assert two.classes == ["a", "b", "c", "a@180", "b@180", "c@180"]
    assert torch.equal(two.x_test[3:], torch.rot90(t.x_test, 2, dims=(2, 3)))


def test_refuses_what_it_cannot_rotate() -> None:
    with pytest.raises(ConfigError, match="square images"):
        with_rotation_classes(_task(4, 5))
    with pytest.raises(ConfigError, match=r"distinct values in 0\.\.3"):
        with_rotation_classes(_task(), turns=(0, 0))
    with pytest.raises(ConfigError, match=r"distinct values in 0\.\.3"):
        with_rotation_classes(_task(), turns=(0, 4))
    t = _task()
    tab = t.replace(x_train=t.x_train.flatten(1), x_val=None, y_val=None, x_test=t.x_test.flatten(1),
                    modality="tabular", input_shape=(16,), x_unlabeled=None)
    with pytest.raises(ConfigError, match="is tabular"):
        with_rotation_classes(tab)
