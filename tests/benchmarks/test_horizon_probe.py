"""The horizon probe: a run given part of its steps, its schedule cut or shortened."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from benchmarks.horizon_probe import StepBudget, main, summary
from warmstart.engine import StepInfo, TrainConfig, Trainer, cross_entropy_step


def _fit(budget: StepBudget) -> tuple[int, list[float]]:
    """Steps run and learning rate of each step of a 40-step cosine fit given ``budget``."""
    torch.manual_seed(0)
    lrs: list[float] = []
    step = cross_entropy_step(0.0)

    def logged(m: nn.Module, xb: torch.Tensor, yb: torch.Tensor, info: StepInfo) -> torch.Tensor:
        lrs.append(trainer.optimizer.param_groups[0]["lr"])
        return step(m, xb, yb, info)

    trainer = Trainer(nn.Linear(3, 2), TrainConfig(epochs=10, batch_size=4, lr=0.1, device="cpu", progress=False),
                      callbacks=[budget], step_fn=logged)
    hist = trainer.fit(torch.randn(16, 3), torch.arange(16) % 2)
    return hist.steps, lrs


def test_both_arms_get_the_same_steps_and_only_the_shortened_one_anneals() -> None:
    cut_steps, cut_lrs = _fit(StepBudget(0.5, shorten=False))
    short_steps, short_lrs = _fit(StepBudget(0.5, shorten=True))
    assert cut_steps == short_steps == 20
    assert cut_lrs[0] == short_lrs[0] and cut_lrs[-1] > 0.1 * 0.4  # the cut schedule is half-way
    assert short_lrs[-1] < 0.1 * 0.01  # the shortened one has ended


def test_the_summary_pairs_the_arms_by_cut() -> None:
    rows = [{"runs": {"mcc cut": {"accuracy": 0.9}, "mcc shortened": {"accuracy": 0.92}}},
            {"runs": {"mcc cut": {"accuracy": 0.8}, "mcc shortened": {"accuracy": 0.8}}}]
    (row,) = summary(rows)
    assert row["cuts"] == 2 and abs(row["shortened − cut"] - 0.01) < 1e-12
    assert row["cuts where shortened is higher / equal / lower"] == "1 / 1 / 0"


def test_quick_run_writes_both_arms_and_a_report(tmp_path: Path) -> None:
    assert main(["--quick", "--out", str(tmp_path), "--strategies", "l2sp"]) == 0
    (row,) = [json.loads(x) for x in (tmp_path / "cells.jsonl").read_text().splitlines()]
    assert set(row["runs"]) == {"l2sp cut", "l2sp shortened"}
    assert row["runs"]["l2sp cut"]["steps"] == row["runs"]["l2sp shortened"]["steps"] == 6  # 65% of 10
    assert "shortened − cut" in (tmp_path / "README.md").read_text()
