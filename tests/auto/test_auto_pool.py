"""auto with an unlabelled pool: the pool methods are among the first trials (fixmatch with labels; mcc and
self_training without), and a pool trial whose loss diverges ends as a failed trial with its reason while the
search goes on."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from warmstart.auto import auto
from warmstart.errors import SearchFailedError
from warmstart.tasks import get_task, register_task

#: tiny trials: every pool method's steps, batches and selection scores cut to a few
TINY: dict[str, Any] = {"epochs": 1, "min_steps": 4, "batch_size": 16, "iterations": 6, "iters_per_epoch": 3,
                        "score_samples": 30}


def _digits_300() -> Any:
    t = get_task("digits")
    assert t.x_val is not None and t.y_val is not None and t.y_test is not None
    g = torch.Generator().manual_seed(0)
    tr, va, te = (torch.randperm(len(y), generator=g)[:k] for y, k in ((t.y_train, 300), (t.y_val, 100),
                                                                       (t.y_test, 100)))
    return t.replace(name="digits-pool-300", x_train=t.x_train[tr], y_train=t.y_train[tr], x_val=t.x_val[va],
                     y_val=t.y_val[va], x_test=t.x_test[te], y_test=t.y_test[te])


register_task("digits-pool-300", _digits_300)


def _run(tmp_path: Any, task: Any, budget: int, **kw: Any) -> dict[str, Any]:
    # prior="none": these tests check the hand-written rules (a shipped prior would order the trials instead)
    return auto(task, budget=budget, storage=str(tmp_path / "kb.db"), out=tmp_path / "run", progress=False,
                params=TINY, prior="none", **kw)


def test_labels_and_a_pool_try_fixmatch(pretrained_source, tmp_path) -> None:  # type: ignore[no-untyped-def]
    r = _run(tmp_path, "digits-pool-300", 2, sources=[pretrained_source], shots=3)
    assert r["situation"]["strategies"][:2] == ["finetune", "fixmatch"]
    assert any("semi-supervised transfer tried right after finetune (fixmatch:" in n for n in r["notes"]), r["notes"]
    tried = [(t["strategy"], t["state"]) for t in r["trials"]]
    assert tried == [("finetune", "COMPLETE"), ("fixmatch", "COMPLETE")], tried
    from warmstart.knowledge import open_storage
    from warmstart.knowledge.trials import trial_rows

    (row,) = [r for r in trial_rows(open_storage(str(tmp_path / "kb.db")), "auto") if r["strategy"] == "fixmatch"]
    assert row["p_iterations"] == TINY["iterations"], row  # the pinned short trial, then the user's option


def test_no_labels_try_the_pool_adaptation_methods(pretrained_source, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # the shared checkpoint was pretrained on mnist5k: naming that task gives the source its data too
    r = _run(tmp_path, "digits-pool-300", 3, sources=[pretrained_source], source_tasks=["mnist5k"], shots=0)
    assert r["situation"]["strategies"][:3] == ["source_only", "mcc", "self_training"]
    tried = [(t["strategy"], t["state"]) for t in r["trials"]]
    assert tried == [("source_only", "COMPLETE"), ("mcc", "COMPLETE"), ("self_training", "COMPLETE")], tried
    assert "label-free" in r["selection"]["protocol"] or "no target labels" in r["selection"]["protocol"]


def test_a_diverging_pool_trial_fails_with_its_reason(pretrained_source, tmp_path) -> None:  # type: ignore[no-untyped-def]
    cut = get_task("digits-pool-300").few_shot(3)
    assert cut.x_unlabeled is not None
    nan_pool = cut.replace(x_unlabeled=torch.full_like(cut.x_unlabeled, float("nan")))
    r = _run(tmp_path, nan_pool, 2, sources=[pretrained_source], strategies=["fixmatch", "finetune"])
    trials = r["trials"]
    assert (trials[0]["strategy"], trials[0]["state"]) == ("finetune", "COMPLETE")
    pool = [t for t in trials if t["strategy"] == "fixmatch"]
    assert pool and all(t["state"] == "FAIL" for t in pool)  # failed trials do not count against the budget
    assert all(t["fail_reason"].startswith("TrainingDivergedError: training diverged: loss is nan") for t in pool)
    assert r["winner"]["strategy"] == "finetune" and r["selection"]["failed"] == len(pool)
    assert sum(t["state"] == "COMPLETE" for t in trials) == 2
    # nothing but the pool method: the search stops after 5 failures in a row, naming the reason
    with pytest.raises(SearchFailedError, match="training diverged"):
        _run(tmp_path / "only", nan_pool, 2, sources=[pretrained_source], strategies=["fixmatch"])
    assert not (tmp_path / "only" / "run").exists()  # nothing half-written
