"""Head-only work on a frozen backbone pays its forward pass once per image: linear-probe trials of a
``tune`` in one process, and the head phase of gradual unfreezing.

Backbone forward passes are counted with a global forward pre-hook on the source's first
convolution (the only one of the smallcnn source taking 1 channel): every image the backbone
sees goes through it once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from torch import nn

from warmstart.engine.feature_cache import default_cache
from warmstart.search.runner import tune
from warmstart.source import Source
from warmstart.strategies import get_strategy
from warmstart.strategies._bn import clear_bn_cache
from warmstart.tasks import Task, get_task


@contextmanager
def backbone_images() -> Iterator[list[int]]:
    """Count the images entering a 1-channel convolution (the smallcnn source's first) inside the block."""
    seen = [0]

    def hook(module: nn.Module, args: tuple) -> None:
        if isinstance(module, nn.Conv2d) and module.in_channels == 1:
            seen[0] += int(args[0].shape[0])

    handle = nn.modules.module.register_module_forward_pre_hook(hook)
    try:
        yield seen
    finally:
        handle.remove()


@pytest.fixture(scope="module")
def small_digits() -> Task:
    """digits: 40 train, 20 validation, 30 test images and a 25-image unlabelled pool (115 in all)."""
    t = get_task("digits")
    assert t.x_val is not None and t.y_val is not None
    return t.replace(name="digits-small", x_train=t.x_train[:40], y_train=t.y_train[:40], x_val=t.x_val[:20],
                     y_val=t.y_val[:20], x_test=t.x_test[:30], y_test=t.y_test[:30],
                     x_unlabeled=t.x_train[100:125])


def _n(x: object) -> int:
    assert x is not None
    return len(x)  # type: ignore[arg-type]


def _cold() -> None:
    default_cache().clear()
    clear_bn_cache()


def test_tune_linear_probe_runs_the_backbone_once_per_image(small_digits: Task, pretrained_source: Path,
                                                            tmp_path: Path) -> None:
    _cold()
    with backbone_images() as seen:
        res = tune(small_digits, "linear_probe", budget=3, warm_start="none", storage=str(tmp_path / "kb.db"),
                   source=str(pretrained_source), device="cpu", params={"bn_adapt": "pool"})
    assert res["trials"]["complete"] == 3
    distinct = sum(_n(x) for x in (small_digits.x_train, small_digits.x_val, small_digits.x_test,
                                   small_digits.x_unlabeled))
    # AdaBN on the pool, train features, validation and test predictions: each image once in 3 trials
    assert seen[0] == distinct, (seen[0], distinct)


def test_gradual_unfreeze_head_phase_trains_on_cached_features(small_digits: Task, pretrained_source: Path) -> None:
    opts = {"phases": 0, "epochs": 4, "batch_size": 8, "augment": "none", "bn_adapt": "none", "device": "cpu",
            "progress": False, "seed": 0}
    src = Source(path=pretrained_source)
    _cold()
    cached = get_strategy("gradual_unfreeze", **opts)
    with backbone_images() as seen:
        cached.fit(small_digits, src)
    assert cached.info_["head_phase"] == "cached features"
    assert seen[0] == _n(small_digits.x_train) + _n(small_digits.x_val)  # not once per epoch

    direct = get_strategy("gradual_unfreeze", **opts)
    direct.cache_head_phase = False  # type: ignore[attr-defined]  # the same head phase through the whole model
    with backbone_images() as seen_direct:
        direct.fit(small_digits, src)
    assert direct.info_["head_phase"] == "through the backbone"
    assert seen_direct[0] >= 4 * _n(small_digits.x_train)
    x = small_digits.x_test
    torch.testing.assert_close(cached.predict_proba(x), direct.predict_proba(x), atol=1e-4, rtol=1e-4)
    assert cached.history_.curve("val_accuracy") == pytest.approx(direct.history_.curve("val_accuracy"))


def test_augmented_head_phase_goes_through_the_backbone(small_digits: Task, pretrained_source: Path) -> None:
    s = get_strategy("gradual_unfreeze", phases=0, epochs=1, batch_size=8, augment="light", device="cpu",
                     progress=False)
    s.fit(small_digits, Source(path=pretrained_source))
    assert s.info_["head_phase"].startswith("augmented")  # augmented inputs change every epoch: nothing to cache
