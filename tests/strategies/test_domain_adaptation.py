"""Domain-adaptation strategies: no target label read at shots=0, selection, few labels, bad pairs,
a source given only as a task is pretrained first (announced, cached)."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from warmstart.errors import ConfigError, IncompatibleError
from warmstart.source import Source
from warmstart.strategies import get_strategy
from warmstart.tasks import Task, get_task, register_task

TINY: dict[str, Any] = {"epochs": 2, "iters_per_epoch": 2, "batch_size": 8, "score_samples": 40,
                        "progress": False, "device": "cpu"}


class _Poison:
    """Stands in for labels that must not be read: any use fails the test."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"target labels were read (.{name})")

    def __len__(self) -> int:
        raise AssertionError("target labels were read (len)")

    def __getitem__(self, item: Any) -> Any:
        raise AssertionError("target labels were read ([])")


@pytest.fixture(scope="module")
def unlabeled_target() -> Task:
    """digits under shots=0: no training labels at all, a 48-image pool."""
    t = get_task("digits").few_shot(0, seed=0)
    return t.replace(x_unlabeled=t.x_unlabeled[:48], x_test=t.x_test[:40], y_test=t.y_test[:40])


def _small_source_task(name: str, n_train: int = 300) -> str:
    """Register a random ``n_train``/100 subset of mnist5k-a (every digit present) under ``name``."""
    task = get_task("mnist5k-a")
    g = torch.Generator().manual_seed(0)
    tr = torch.randperm(len(task.y_train), generator=g)[:n_train]
    va = torch.randperm(len(task.y_val), generator=g)[:100]
    small = task.replace(name=name, x_train=task.x_train[tr], y_train=task.y_train[tr], x_val=task.x_val[va],
                         y_val=task.y_val[va], x_test=task.x_val[va], y_test=task.y_val[va])
    register_task(name, lambda: small)
    return name


@pytest.fixture(scope="module")
def source_task_only() -> Source:
    """A source given only as a task: strategies pretrain on it first (1 epoch here, to stay fast)."""
    return Source(task_name=_small_source_task("mnist5k-a-300"), pretrain_epochs=1)


def test_shots_zero_reads_no_target_label(unlabeled_target: Task, source_task_only: Source) -> None:
    assert unlabeled_target.x_val is None and unlabeled_target.y_val is None
    assert len(unlabeled_target.y_train) == 0  # few_shot(0) removed every training label
    poisoned = unlabeled_target.replace(y_test=_Poison(), y_val=None)
    a = get_strategy("cdan", select_by="dev", **TINY).fit(poisoned, source_task_only)
    b = get_strategy("cdan", select_by="dev", **TINY).fit(unlabeled_target, source_task_only)
    # same seed: the real test labels made no difference to training or selection
    assert torch.allclose(a.predict_proba(unlabeled_target.x_test), b.predict_proba(unlabeled_target.x_test))
    assert a.info_["target_labels_used"] == 0
    assert a.info_["select_by"] == "dev" and a.info_["selected_epoch"] in (1, 2)
    # no checkpoint: the model starts from one pretrained on the source task (cached: pretrained once)
    assert a.info_["init"] == "source model pretrained on mnist5k-a-300 (1 epochs, cached)"
    assert a.info_["source_sha256"] == b.info_["source_sha256"] == source_task_only.checkpoint().sha256
    assert len(a.candidates_) == 2 and all("sel_dev" in c and "state" not in c for c in a.candidates_)


@pytest.mark.parametrize("select_by", ["infomax"])
def test_select_by_picks_the_scored_epoch(unlabeled_target: Task, source_task_only: Source, select_by: str) -> None:
    s = get_strategy("mmd", select_by=select_by, keep_candidates=True, **TINY).fit(unlabeled_target,
                                                                                    source_task_only)
    from warmstart.strategies._selection import pick

    chosen = pick(s.candidates_, select_by)
    assert s.info_["select_by"] == select_by
    assert s.info_["selected_epoch"] == s.candidates_[chosen]["epoch"]
    # the kept weights are the chosen candidate's
    ref = s.candidate_model(chosen)
    x = unlabeled_target.x_test[:8]
    assert torch.allclose(s.predict_proba(x), torch.softmax(ref.eval()(x), 1), atol=1e-5)


def test_few_target_labels_are_used(make_source, tiny_target: Task) -> None:  # type: ignore[no-untyped-def]
    s = get_strategy("dann", bottleneck=256, **TINY).fit(tiny_target, make_source("mnist5k-a"))
    assert s.info_["target_labels_used"] == 10
    assert s.info_["bn_adapt"] == "AdaBN on 64 target-pool inputs"  # the default: AdaBN at the end
    assert s.info_["init"].startswith("source checkpoint")
    # TLlib's bottleneck: Linear-BN-ReLU 256 and a new classifier on top of the source features
    assert s.info_["head"] == "new"
    head = s.model_.head
    assert [type(m).__name__ for m in head] == ["Linear", "BatchNorm1d", "ReLU", "Linear"]
    assert head[0].out_features == 256 and s.criterion_.discriminator[0].in_features == 256


def test_defaults_are_the_tllib_style_recipe() -> None:
    s = get_strategy("dann")
    p = s.get_params()
    assert (p["optimizer"], p["lr"], p["weight_decay"], p["lr_schedule"]) == ("sgd", 0.01, 1e-3, "dann")
    assert (p["iterations"], p["batch_size"], p["bottleneck"], p["domain_bn"], p["bn_adapt"]) == (
        3000, 32, 0, "separate", "pool")
    assert s._steps_per_epoch() * p["epochs"] == 3000


class _BatchSizes(torch.nn.Module):
    """Records the batch sizes the first batch-norm layer normalizes in training mode."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    def __call__(self, module: torch.nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        if module.training:
            self.sizes.append(inputs[0].shape[0])


@pytest.mark.parametrize("domain_bn,expected", [("separate", {8}), ("joint", {16})])
def test_batch_norm_per_domain(unlabeled_target: Task, source_task_only: Source, domain_bn: str,
                               expected: set[int]) -> None:
    """separate: source and target batches are normalized apart (8 + 8); joint: together (16)."""
    from warmstart.strategies._bn import batch_norms

    s = get_strategy("dann", domain_bn=domain_bn, bn_adapt="none", select_by="last", **TINY)
    recorder = _BatchSizes()
    original = s._build

    def build(target: Task, source: Source) -> Any:
        model, report = original(target, source)
        batch_norms(model)[0].register_forward_pre_hook(recorder)
        return model, report

    s._build = build  # type: ignore[method-assign]
    s.fit(unlabeled_target, source_task_only)
    assert set(recorder.sizes) == expected
    assert s.info_["steps"] == 4 and s.info_["seconds_per_1000_steps"] > 0


def test_different_class_sets_refused(unlabeled_target: Task, source_task_only: Source) -> None:
    target = get_task("digits").subset_classes([0, 1, 2]).few_shot(0)
    with pytest.raises(IncompatibleError, match=r"same classes.*only in source: \['3', '4'"):
        get_strategy("coral", **TINY).fit(target, source_task_only)


def test_target_without_pool_refused(source_task_only: Source) -> None:
    with pytest.raises(ConfigError, match="unlabelled target pool"):
        get_strategy("source_only", **TINY).fit(get_task("digits"), source_task_only)
    with pytest.raises(ConfigError, match="source-task"):
        get_strategy("dann", **TINY).fit(get_task("digits").few_shot(0), None)


def test_source_task_alone_is_pretrained_once_and_announced(unlabeled_target: Task,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    name = _small_source_task("mnist5k-a-120", n_train=120)
    first = get_strategy("source_only", **TINY).fit(unlabeled_target, Source(task_name=name, pretrain_epochs=1))
    assert capsys.readouterr().err.splitlines() == [
        f"pretraining a source model on {name} (1 epochs; cached for next time)..."]
    again = get_strategy("source_only", **TINY).fit(unlabeled_target, Source(task_name=name, pretrain_epochs=1))
    assert "pretraining" not in capsys.readouterr().err  # the cached pretraining is reused silently
    # cached or fresh, the run is the same
    x = unlabeled_target.x_test[:16]
    assert torch.equal(first.predict_proba(x), again.predict_proba(x))
    # it starts from the pretrained source; by default (no bottleneck) its head is the source classifier
    assert first.info_["head"] == "reuse" and "bottleneck" not in first.info_
    new = get_strategy("source_only", bottleneck=256, **TINY).fit(unlabeled_target,
                                                                  Source(task_name=name, pretrain_epochs=1))
    assert new.info_["head"] == "new" and "bottleneck" in new.info_


def test_pool_smaller_than_a_batch_refused(unlabeled_target: Task, source_task_only: Source) -> None:
    small = unlabeled_target.replace(x_unlabeled=unlabeled_target.x_unlabeled[:5])
    with pytest.raises(ConfigError, match=r"has 5 examples, fewer than one unlabelled batch \(8\)"):
        get_strategy("dann", **TINY).fit(small, source_task_only)


def test_divergence_is_one_error(unlabeled_target: Task, source_task_only: Source) -> None:
    from warmstart.errors import TrainingDivergedError

    bad = unlabeled_target.replace(x_unlabeled=torch.full_like(unlabeled_target.x_unlabeled, float("nan")))
    with pytest.raises(TrainingDivergedError, match="training diverged"):
        get_strategy("mcc", bn_adapt="none", **TINY).fit(bad, source_task_only)


def test_the_last_epoch_is_kept_without_scoring_any(unlabeled_target: Task, source_task_only: Source) -> None:
    """``select_by="last"`` (the default) scores no epoch unless ``keep_candidates`` asks, and the
    model is the same either way: the scores never touch training's random stream."""
    plain = get_strategy("mcc", **TINY).fit(unlabeled_target, source_task_only)
    scored = get_strategy("mcc", keep_candidates=True, **TINY).fit(unlabeled_target, source_task_only)
    assert plain.candidates_ == [] and not any(k.startswith("sel_") for e in plain.history_.epochs for k in e)
    assert len(scored.candidates_) == 2 and plain.info_["selected_epoch"] == scored.info_["selected_epoch"] == 2
    x = unlabeled_target.x_test[:16]
    assert torch.equal(plain.predict_proba(x), scored.predict_proba(x))
