"""fixmatch (few labels + pool) and self_training (target pool): the pool's labels are never read, the pool
is used, the views are right, and bad input is one clear error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from warmstart.engine.augment import strong_view, weak_view
from warmstart.errors import ConfigError, IncompatibleError, TrainingDivergedError
from warmstart.source import Source
from warmstart.strategies import get_strategy, strategy_class
from warmstart.tasks import Task, get_task

from .test_domain_adaptation import _Poison, _small_source_task

FAST: dict[str, Any] = {"iterations": 4, "epochs": 2, "batch_size": 8, "unlabeled_ratio": 2, "progress": False,
                        "device": "cpu"}


@pytest.fixture(scope="module")
def few_labels() -> Task:
    """digits, 1 label per class, a 48-image pool (under the few-shot protocol the pool carries no labels)."""
    t = get_task("digits").few_shot(1, seed=0)
    return t.replace(x_unlabeled=t.x_unlabeled[:48], x_test=t.x_test[:40], y_test=t.y_test[:40])


@pytest.fixture(scope="module")
def source(pretrained_source: Path) -> Source:
    return Source(path=pretrained_source)


def test_cites_papers_and_declares_searchable_params() -> None:
    for name, words in (("fixmatch", ("Sohn", "NeurIPS 2020")), ("self_training", ("FixMatch", "NeurIPS 2020"))):
        cls = strategy_class(name)
        assert all(w in cls.paper for w in words)
        table = cls.param_table()
        assert table["threshold"].default == 0.95 and table["threshold"].search
        assert table["unlabeled_ratio"].default == 3
    assert strategy_class("fixmatch").needs_labels and not strategy_class("self_training").needs_labels


def test_pool_labels_never_read_and_the_pool_is_used(few_labels: Task, source: Source) -> None:
    assert few_labels.x_val is None and few_labels.y_val is None  # the few-shot cut: no validation labels
    poisoned = few_labels.replace(y_test=_Poison())
    a = get_strategy("fixmatch", threshold=0.2, **FAST).fit(poisoned, source)
    b = get_strategy("fixmatch", threshold=0.2, **FAST).fit(few_labels, source)
    x = few_labels.x_test
    assert torch.equal(a.predict_proba(x), b.predict_proba(x))
    assert a.info_["target_labels_used"] == 10 and a.info_["unlabeled_batch"] == 16
    assert a.info_["pseudo_label_rate"] > 0 and a.info_["steps"] == 4
    assert a.info_["head"] == "reuse"  # the source model, its classifier kept (same class names)
    # the pool matters: other pool images, another model
    other = few_labels.replace(x_unlabeled=get_task("digits").few_shot(1, seed=0).x_unlabeled[48:96])
    c = get_strategy("fixmatch", threshold=0.2, **FAST).fit(other, source)
    assert not torch.allclose(c.predict_proba(x), b.predict_proba(x))
    # lambda_u = 0: the pool is not used at all
    d = get_strategy("fixmatch", lambda_u=0.0, **FAST).fit(few_labels, source)
    e = get_strategy("fixmatch", lambda_u=0.0, **FAST).fit(other, source)
    assert torch.equal(d.predict_proba(x), e.predict_proba(x))


@pytest.mark.parametrize("extra", [{"thresholds": "flexmatch"}, {"dist_align": True}])
def test_variants_run(few_labels: Task, source: Source, extra: dict[str, Any]) -> None:
    s = get_strategy("fixmatch", **FAST, **extra).fit(few_labels, source)
    assert torch.isfinite(s.predict_proba(few_labels.x_test)).all()
    if extra.get("thresholds") == "flexmatch":  # warm-up: nothing learned yet, low thresholds keep labels
        assert s.info_["pseudo_label_rate"] > 0.5


def test_self_training_on_the_target_pool(source: Source) -> None:
    target = get_task("digits").few_shot(0, seed=0)
    target = target.replace(x_unlabeled=target.x_unlabeled[:48], x_test=target.x_test[:40], y_test=_Poison())
    src = Source(path=source.path, task_name=_small_source_task("mnist5k-a-300"))
    s = get_strategy("self_training", threshold=0.2, bn_adapt="none", select_by="last", **FAST).fit(target, src)
    assert s.info_["unlabeled_batch"] == 16 and s.info_["target_labels_used"] == 0
    assert s.info_["head"] == "reuse" and s.info_["pseudo_label_rate"] > 0


def test_bad_input_is_one_clear_error(few_labels: Task, source: Source) -> None:
    with pytest.raises(ConfigError, match=r"has 48 examples, fewer than one unlabelled batch \(64\)"):
        get_strategy("fixmatch", **{**FAST, "batch_size": 32}).fit(few_labels, source)
    for bad in (0.0, 1.0, 1.5):
        with pytest.raises(ConfigError, match="out of range"):
            get_strategy("fixmatch", threshold=bad)
        with pytest.raises(ConfigError, match="out of range"):
            get_strategy("self_training", threshold=bad)
    with pytest.raises(ConfigError, match="needs labelled target examples"):
        get_strategy("fixmatch", **FAST).fit(get_task("digits").few_shot(0), source)
    with pytest.raises(ConfigError, match="unlabelled target pool"):
        get_strategy("fixmatch", **FAST).fit(get_task("digits"), source)
    with pytest.raises(ConfigError, match="source model"):
        get_strategy("fixmatch", **FAST).fit(few_labels, None)
    nan_pool = few_labels.replace(x_unlabeled=torch.full_like(few_labels.x_unlabeled, float("nan")))
    with pytest.raises(TrainingDivergedError, match="training diverged"):
        get_strategy("fixmatch", **FAST).fit(nan_pool, source)
    # closed-set self-training: the classes must match, and the message names the odd ones
    three = get_task("digits").subset_classes([0, 1, 2]).few_shot(0)
    src = Source(path=source.path, task_name=_small_source_task("mnist5k-a-300"))
    with pytest.raises(IncompatibleError, match=r"only in source: \['3', '4'"):
        get_strategy("self_training", **FAST).fit(three, src)


def test_weak_and_strong_views() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.zeros(16, 1, 28, 28)
    x[:, :, 4:24, 10:14] = 1.0  # a vertical bar, off-centre to the left
    assert torch.equal(weak_view(x, g, max_shift=0.0), x)  # no shift, no flip: unchanged
    w = weak_view(x, g)
    assert w.shape == x.shape and not torch.equal(w, x)
    # a shift of at most 12.5 % moves the bar's centre by at most 3.5 px; no flip mirrors it
    cols = torch.arange(28.0)
    centre = (w.sum(dim=(1, 2)) * cols).sum(1) / w.sum(dim=(1, 2, 3))
    assert ((centre - 11.5).abs() <= 3.5 + 1e-4).all()
    s = strong_view(x, g)
    assert s.shape == x.shape and s.min() >= 0 and s.max() <= 1
    assert (s - x).abs().amax(dim=(1, 2, 3)).gt(0).float().mean() > 0.5  # most images changed
    # same generator state, same views
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(strong_view(x, g1), strong_view(x, g2))
