"""Method-specific checks: the formulas of METHODS.md and the behaviour each strategy promises."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from warmstart.backbones.checkpoint import load_checkpoint
from warmstart.engine.feature_cache import default_cache
from warmstart.strategies import get_strategy
from warmstart.strategies.bss import bss_penalty
from warmstart.strategies.linear_probe import fit_logistic_regression
from warmstart.strategies.llrd import layer_decay_groups

FAST = {"epochs": 1, "min_steps": 3, "batch_size": 16, "progress": False, "device": "cpu"}


def test_bss_penalty_is_sum_of_smallest_squared_singular_values() -> None:
    f = torch.randn(12, 7, generator=torch.Generator().manual_seed(0))
    sv = np.linalg.svd(f.numpy(), compute_uv=False)
    assert float(bss_penalty(f, 1)) == pytest.approx(float(sv[-1] ** 2), rel=1e-4)
    assert float(bss_penalty(f, 3)) == pytest.approx(float((sv[-3:] ** 2).sum()), rel=1e-4)


def test_llrd_groups_decay_from_the_top(pretrained_source) -> None:  # type: ignore[no-untyped-def]
    model = load_checkpoint(pretrained_source).model
    groups = layer_decay_groups(model, 1e-2, 0.5)
    stage_lrs = [g["lr"] for g in groups if g["name"].startswith("stage")]
    n = model.backbone.num_stages
    assert stage_lrs == pytest.approx([1e-2 * 0.5 ** (n - 1 - i) for i in range(n)])
    assert [g["lr"] for g in groups if g["name"] == "head"] == [1e-2]
    n_params = sum(len(g["params"]) for g in groups)
    assert n_params == len(list(model.parameters()))  # every parameter in exactly one group


def test_l2sp_penalty_targets_source_weights(make_source, tiny_target) -> None:  # type: ignore[no-untyped-def]
    s = get_strategy("l2sp", alpha=0.5, beta=0.2, head="new", **FAST)
    s.info_ = {"head": "new"}
    model = s.build_model(tiny_target, make_source())
    s.info_["head"] = "new"
    s.setup(model, tiny_target)
    new_sq = sum(float((p.detach() ** 2).sum()) for p in model.head.parameters())
    assert float(s.penalty().detach()) == pytest.approx(0.5 * 0.2 * new_sq, rel=1e-5)  # w = w0 on transferred weights
    p = model.backbone_parameters()[0]
    with torch.no_grad():
        p.add_(1.0)
    expected = 0.5 * 0.5 * p.numel() + 0.5 * 0.2 * new_sq
    assert float(s.penalty().detach()) == pytest.approx(expected, rel=1e-4)
    bn_buffers = [n for n, _ in model.named_buffers() if "running" in n]
    assert bn_buffers and s.info_["l2sp"]["transferred_tensors"] == len(model.backbone_parameters())


def test_linear_probe_matches_sklearn_and_uses_the_cache(make_source, tiny_target) -> None:  # type: ignore[no-untyped-def]
    g = torch.Generator().manual_seed(0)
    x = torch.randn(60, 5, generator=g)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long() + (x[:, 2] > 1).long()
    w, b, _ = fit_logistic_regression(x, y, 3, l2=1.0 / (60 * 1.0), max_iter=500)
    ref = LogisticRegression(C=1.0, max_iter=2000, tol=1e-10).fit(x.numpy(), y.numpy())
    ours = torch.softmax(x @ w.T + b, 1).numpy()
    assert np.abs(ours - ref.predict_proba(x.numpy())).max() < 2e-3

    cache = default_cache()
    cache.clear()
    before = cache.misses
    s1 = get_strategy("linear_probe", progress=False).fit(tiny_target, make_source())
    after_first = cache.misses
    s2 = get_strategy("linear_probe", progress=False, l2=1.0).fit(tiny_target, make_source())
    assert after_first == before + 1 and cache.misses == after_first  # second fit: features from the cache
    assert s1.info_["head"] == "reuse"
    assert not any(p.requires_grad for p in s2.model_.backbone.parameters())
    # a reused head with a strong prior stays near the source head
    src = load_checkpoint(make_source().path).model
    s3 = get_strategy("linear_probe", progress=False, l2=1e4).fit(tiny_target, make_source())
    assert torch.allclose(s3.model_.output_layer.weight, src.output_layer.weight, atol=1e-2)


def test_gradual_unfreeze_head_phase_keeps_backbone_and_bn_stats(make_source, tiny_target) -> None:  # type: ignore[no-untyped-def]
    src = load_checkpoint(make_source().path).model
    s = get_strategy("gradual_unfreeze", phases=0, bn_adapt="none", **FAST).fit(tiny_target, make_source())
    got, ref = s.model_.backbone.state_dict(), src.backbone.state_dict()
    for k in ref:
        if "num_batches" not in k:
            assert torch.equal(got[k], ref[k]), f"{k} changed during the head-only phase"
    assert not torch.equal(s.model_.output_layer.weight, src.output_layer.weight)
    full = get_strategy("gradual_unfreeze", **FAST).fit(tiny_target, make_source())
    n = src.backbone.num_stages
    assert [p["unfrozen_stages"] for p in full.info_["phases"]] == list(range(n + 1))
    assert all(p.requires_grad for p in full.model_.parameters())


def test_head_option_is_honoured(make_source, tiny_target) -> None:  # type: ignore[no-untyped-def]
    s = get_strategy("bss", head="new", **FAST).fit(tiny_target, make_source())
    assert s.info_["head"] == "new"
    s = get_strategy("llrd", head="reuse", **FAST).fit(tiny_target, make_source())
    assert s.info_["head"] == "reuse" and len(s.info_["stage_lrs"]) == 3


def test_multitask_needs_a_source_task(make_source, tiny_target) -> None:  # type: ignore[no-untyped-def]
    from warmstart.errors import ConfigError

    with pytest.raises(ConfigError, match="source-task"):
        get_strategy("multitask", **FAST).fit(tiny_target, make_source())
    s = get_strategy("multitask", **FAST).fit(tiny_target, make_source("mnist5k-a"))
    assert s.info_["source_task"] == "mnist5k-a"
    assert "source_head" not in dict(s.model_.named_children())


def test_adabn_sets_statistics_of_the_pool(pretrained_source) -> None:  # type: ignore[no-untyped-def]
    from warmstart.strategies._bn import adapt_bn_statistics

    model = load_checkpoint(pretrained_source).model.train()
    x = torch.rand(40, 1, 28, 28)
    assert adapt_bn_statistics(model, x, batch_size=16) == 40
    assert model.training
    conv, bn = model.backbone.stages[0][0], model.backbone.stages[0][1]
    with torch.no_grad():
        h = conv(model.prepare(x))
    assert torch.allclose(bn.running_mean, h.mean(dim=(0, 2, 3)), atol=3e-3)
    assert bn.momentum == 0.1  # restored


def test_frozen_bn_mode_keeps_adapted_statistics(make_source, tiny_target) -> None:  # type: ignore[no-untyped-def]
    s = get_strategy("l2sp", bn_mode="frozen", bn_adapt="pool", **FAST)
    s.fit(tiny_target, make_source())
    assert s.info_["bn_adapted_on"] == len(tiny_target.x_unlabeled) and s.info_["bn_mode"] == "frozen"
    ref = load_checkpoint(make_source().path).model
    from warmstart.strategies._bn import adapt_bn_statistics

    adapt_bn_statistics(ref, tiny_target.x_unlabeled, seed=0)
    got = s.model_.backbone.stages[0][1].running_var
    assert torch.allclose(got, ref.backbone.stages[0][1].running_var, atol=1e-5)
