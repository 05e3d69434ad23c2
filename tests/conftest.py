"""Shared fixtures: one small pretrained source per test session, quiet progress, CI rules."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("WARMSTART_NO_PROGRESS", "1")
os.environ.setdefault("WARMSTART_THREADS", "1")  # tiny test models: one thread is faster and never oversubscribes
# on a GPU machine too, what no test sends elsewhere trains on the CPU: the expected numbers are CPU numerics, and a
# test hands a fitted model CPU tensors; the CUDA tests ask for "cuda" explicitly
os.environ.setdefault("WARMSTART_DEVICE", "cpu")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Keep pretrained-source and feature caches out of the user's home."""
    cache = tmp_path_factory.mktemp("warmstart-cache")
    os.environ["WARMSTART_CACHE"] = str(cache)
    return cache


@pytest.fixture(scope="session")
def pretrained_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A smallcnn pretrained on a random 1,500-image subset of mnist5k for 2 epochs (a few seconds).

    Shared by every test that needs a source checkpoint; treat it as read-only.
    """
    import torch

    from warmstart.engine import TrainConfig
    from warmstart.pretraining import pretrain_supervised
    from warmstart.tasks import get_task

    task = get_task("mnist5k")
    idx = torch.randperm(len(task.y_train), generator=torch.Generator().manual_seed(0))[:1500]  # splits: index order
    small = task.replace(x_train=task.x_train[idx], y_train=task.y_train[idx])
    out = tmp_path_factory.mktemp("source") / "mnist5k-smallcnn"
    cfg = TrainConfig(epochs=2, lr=3e-3, batch_size=64, augment="light", progress=False, seed=0)
    pretrain_supervised(small, out, config=cfg, widths=(16, 32, 64))
    return out


def _under_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true")


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):  # type: ignore[no-untyped-def]
    """Under CI a module skipped at collection (module-level ``importorskip``) fails to collect.

    Such skips happen before any test item exists, so the per-test rule below never sees them.
    """
    outcome = yield
    report = outcome.get_result()
    if _under_ci() and report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"{collector.nodeid}: skipped at collection under CI, which is not allowed: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """Under CI (CI=true) a skipped test fails: a missing server or browser must not hide a test."""
    outcome = yield
    report = outcome.get_result()
    if _under_ci() and report.skipped and call.when in ("setup", "call"):
        if item.get_closest_marker("ci_may_skip") is None:
            report.outcome = "failed"
            report.longrepr = f"skipped under CI, which is not allowed: {report.longrepr}"
