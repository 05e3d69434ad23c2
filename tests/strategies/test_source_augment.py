"""Source augmentations chosen by the proxy A-distance to the target pool (``source_augment``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from warmstart.source import Source
from warmstart.strategies import get_strategy
from warmstart.strategies._source_augment import (
    OPS,
    apply_ops,
    choose_ops,
    log_loss_divergence,
    proxy_a_distance,
)
from warmstart.tasks import Task, get_task


class PixelFeatures(nn.Module):
    """A fixed representation as a bare backbone: the image average-pooled to 7×7 (no training, no randomness)."""

    def forward_stages(self, x: Tensor, start: int = 0, end: int | None = None) -> Tensor:
        return x

    def pool(self, h: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(h, 7).flatten(1)


@pytest.fixture(scope="module")
def mnist() -> Tensor:
    x = get_task("mnist5k-a").x_train
    return x[torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[:600]]  # all classes


@pytest.mark.parametrize("name", list(OPS))
def test_each_operation_changes_about_half_the_images_and_stays_in_range(name: str, mnist: Tensor) -> None:
    x = mnist[:200]
    out = OPS[name](x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    changed = (out - x).abs().flatten(1).amax(1) > 1e-4
    assert 0.3 < float(changed.float().mean()) < 0.7, f"{name} changed {int(changed.sum())} of 200 images"


def test_operations_are_seeded(mnist: Tensor) -> None:
    a = apply_ops(mnist[:50], list(OPS), torch.Generator().manual_seed(3))
    b = apply_ops(mnist[:50], list(OPS), torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_proxy_a_distance_is_zero_for_one_distribution_and_two_for_separable_ones() -> None:
    rng = np.random.default_rng(0)
    same = proxy_a_distance(rng.normal(size=(400, 5)), rng.normal(size=(400, 5)))
    apart = proxy_a_distance(rng.normal(size=(400, 5)), rng.normal(loc=8.0, size=(400, 5)))
    assert same < 0.3 and apart == 2.0


def test_the_log_loss_divergence_keeps_ranking_where_the_pad_saturates() -> None:
    rng = np.random.default_rng(0)
    src = rng.normal(size=(400, 5))
    same = log_loss_divergence(src, rng.normal(size=(400, 5)))
    near, far = (rng.normal(loc=loc, size=(400, 5)) for loc in (3.0, 8.0))
    assert proxy_a_distance(src, near) == proxy_a_distance(src, far) == 2.0  # both separable: the PAD ties
    assert same < 0.3 < log_loss_divergence(src, near) < log_loss_divergence(src, far) <= 2.0


def test_the_divergence_is_named_in_the_choice_and_checked(mnist: Tensor) -> None:
    import pytest

    source, pool = mnist[:300], mnist[300:]
    assert "log-loss divergence" in choose_ops(PixelFeatures(), source, 1.0 - pool, samples=300).describe()
    choice = choose_ops(PixelFeatures(), source, 1.0 - pool, samples=300, divergence="pad")
    assert choice.ops == ["invert"] and "proxy A-distance" in choice.describe()
    with pytest.raises(ValueError, match="divergence 'mmd'"):
        choose_ops(PixelFeatures(), source, pool, samples=300, divergence="mmd")


def test_an_inverted_pool_gets_invert_and_a_same_domain_pool_gets_nothing(mnist: Tensor) -> None:
    source, pool = mnist[:300], mnist[300:]
    inverted = choose_ops(PixelFeatures(), source, 1.0 - pool, samples=300)
    assert inverted.ops == ["invert"], inverted.describe()
    assert inverted.pad < inverted.pad_none - 0.5
    same = choose_ops(PixelFeatures(), source, pool, samples=300)
    assert same.ops == [], same.describe()
    assert {t["ops"] for t in same.tried} >= {"none", *OPS}  # every operation was tried once


SMALL: dict[str, Any] = {"epochs": 1, "iterations": 4, "batch_size": 8, "score_samples": 40,
                         "progress": False, "device": "cpu"}


def test_source_only_with_auto_augmentation_reports_its_choice(pretrained_source: Path) -> None:
    target: Task = get_task("mnist5k-b-inverted").few_shot(0)
    target = target.replace(x_unlabeled=target.x_unlabeled[:300], x_test=target.x_test[:50],
                            y_test=target.y_test[:50])
    source = Source(path=pretrained_source, task_name="mnist5k-a")
    fitted = get_strategy("source_only", source_augment="auto", **SMALL).fit(target, source)
    assert fitted.info_["source_augment"].startswith("invert"), fitted.info_["source_augment"]
    assert "log-loss divergence" in fitted.info_["source_augment"]  # the default divergence
    by_logloss = get_strategy("source_only", source_augment="auto", source_augment_divergence="logloss",
                              **SMALL).fit(target, source)
    assert by_logloss.info_["source_augment"].startswith("invert")
    assert "log-loss divergence" in by_logloss.info_["source_augment"]
    plain = get_strategy("source_only", source_augment="none", **SMALL).fit(target, source)
    assert "source_augment" not in plain.info_
    forced = get_strategy("source_only", source_augment="invert", **SMALL).fit(target, source)
    assert forced.info_["source_augment"] == "invert"
    x = target.x_test[:16]
    assert not torch.allclose(forced.predict_proba(x), plain.predict_proba(x), atol=1e-5)
