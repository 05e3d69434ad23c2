"""The adaptation loss of dann, cdan, mmd, coral and mcc acts: off (trade_off=0) it is exactly source_only, on it
is not, and on an inverted pair it makes source and target features harder to tell apart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from warmstart.source import Source
from warmstart.strategies import get_strategy
from warmstart.tasks import Task, get_task, register_task

SMALL: dict[str, Any] = {"epochs": 2, "iters_per_epoch": 3, "batch_size": 8, "score_samples": 40,
                         "progress": False, "device": "cpu"}


def _subset(task: Task, n: int, seed: int) -> torch.Tensor:
    return torch.randperm(len(task.y_train), generator=torch.Generator().manual_seed(seed))[:n]


@pytest.fixture(scope="module")
def inverted_pair(pretrained_source: Path) -> tuple[Source, Task, Task]:
    """mnist5k-a (400 images) as source, mnist5k-b-inverted (shots 0, a 400-image pool) as target."""
    src = get_task("mnist5k-a")
    tr = _subset(src, 400, 1)
    va = torch.randperm(len(src.y_val), generator=torch.Generator().manual_seed(2))[:100]
    small = src.replace(name="mnist5k-a-400", x_train=src.x_train[tr], y_train=src.y_train[tr],
                        x_val=src.x_val[va], y_val=src.y_val[va])
    register_task(small.name, lambda: small)
    tgt = get_task("mnist5k-b-inverted").few_shot(0)
    te = torch.randperm(len(tgt.y_test), generator=torch.Generator().manual_seed(3))[:200]
    tgt = tgt.replace(x_unlabeled=tgt.x_unlabeled[:400], x_test=tgt.x_test[te], y_test=tgt.y_test[te])
    return Source(path=pretrained_source, task_name=small.name), small, tgt


@pytest.mark.parametrize("name", ["dann", "cdan", "mmd", "coral", "mcc"])
def test_trade_off_zero_is_exactly_source_only(name: str, inverted_pair: tuple[Source, Task, Task]) -> None:
    source, _, target = inverted_pair
    base = get_strategy("source_only", **SMALL).fit(target, source)
    off = get_strategy(name, trade_off=0.0, **SMALL).fit(target, source)
    on = get_strategy(name, **SMALL).fit(target, source)
    x = target.x_test[:64]
    assert torch.equal(off.predict_proba(x), base.predict_proba(x))
    assert off.criterion_ is None  # switched off entirely
    # the default weight changes the model: the adaptation loss is there and acts
    assert not torch.allclose(on.predict_proba(x), base.predict_proba(x), atol=1e-4)


def _domain_accuracy(model: torch.nn.Module, xs: torch.Tensor, xt: torch.Tensor) -> float:
    """Held-out accuracy of a logistic-regression domain discriminator on the features the adaptation
    loss acts on (the bottleneck's output)."""
    model.eval()
    with torch.no_grad():
        bottleneck = model.head[:-1]  # type: ignore[index]
        feats = torch.cat([bottleneck(model.features(xs)), bottleneck(model.features(xt))]).numpy()  # type: ignore[operator]
    domain = np.array([0] * len(xs) + [1] * len(xt))
    order = torch.randperm(len(domain), generator=torch.Generator().manual_seed(0)).numpy()
    fit, held = order[: len(order) // 2], order[len(order) // 2:]
    clf = LogisticRegression(C=0.01, max_iter=2000).fit(feats[fit], domain[fit])
    return float(clf.score(feats[held], domain[held]))


@pytest.mark.parametrize("name", ["mmd"])
def test_adaptation_makes_domains_harder_to_tell_apart(name: str, inverted_pair: tuple[Source, Task, Task]) -> None:
    source, src, target = inverted_pair
    kw: dict[str, Any] = {"epochs": 1, "iters_per_epoch": 150, "batch_size": 32, "score_samples": 40,
                          "select_by": "last", "progress": False,
                          # the loss alone: one batch-norm pass over both domains, no AdaBN, no bottleneck,
                          # no source augmentation toward the target
                          "domain_bn": "joint", "bn_adapt": "none", "bottleneck": 0, "source_augment": "none",
                          "device": "cpu"}
    xs = src.x_test[torch.randperm(len(src.y_test), generator=torch.Generator().manual_seed(4))[:200]]
    base = _domain_accuracy(get_strategy("source_only", **kw).fit(target, source).model_, xs, target.x_test)
    adapted = _domain_accuracy(get_strategy(name, **kw).fit(target, source).model_, xs, target.x_test)
    assert adapted < base - 0.05, f"domain discriminator accuracy: {name} {adapted:.3f}, source_only {base:.3f}"
