"""The weight-averaging probe: one fit's last weights against its running averages."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from benchmarks.averaging_probe import Averages, main, summary
from warmstart.engine import TrainConfig, Trainer
from warmstart.engine.callbacks import Callback


def test_the_averages_follow_the_weights_each_by_its_rule() -> None:
    torch.manual_seed(0)
    cb = Averages()
    model = nn.Linear(3, 2)
    seen: list[torch.Tensor] = []
    start = model.weight.detach().clone()

    class Record(Callback):
        def on_batch_end(self, step: int, m: nn.Module) -> None:
            seen.append(dict(m.named_parameters())["weight"].detach().clone())

    Trainer(model, TrainConfig(epochs=8, batch_size=4, lr=0.1, device="cpu", progress=False),
            callbacks=[cb, Record()]).fit(torch.randn(16, 3), torch.arange(16) % 2)
    assert len(seen) == cb.total == 32
    swa = torch.stack(seen[-8:]).mean(0)  # steps 25..32: the last quarter
    assert torch.allclose(cb.avg["swa25"]["weight"], swa, atol=1e-6)
    for name, d in (("ema0.99", 0.99), ("ema0.998", 0.998)):
        ema = start.clone()
        for w in seen:
            ema = d * ema + (1 - d) * w
        assert torch.allclose(cb.avg[name]["weight"], ema, atol=1e-6)


def test_the_summary_pairs_each_average_with_the_last_weights() -> None:
    rows = [{"runs": {"mcc": {"accuracy": {"last": 0.9, "ema0.99": 0.92, "ema0.998": 0.9, "swa25": 0.88}}}},
            {"runs": {"mcc": {"accuracy": {"last": 0.8, "ema0.99": 0.8, "ema0.998": 0.81, "swa25": 0.8}}}}]
    by = {r["weights"]: r for r in summary(rows)}
    assert abs(by["ema0.99"]["− last"] - 0.01) < 1e-12 and by["ema0.99"]["higher / equal / lower"] == "1 / 1 / 0"
    assert by["swa25"]["higher / equal / lower"] == "0 / 1 / 1" and by["last"]["− last"] == 0


def test_quick_run_writes_every_average_and_a_report(tmp_path: Path) -> None:
    assert main(["--quick", "--out", str(tmp_path), "--strategies", "l2sp"]) == 0
    (row,) = [json.loads(x) for x in (tmp_path / "cells.jsonl").read_text().splitlines()]
    assert set(row["runs"]["l2sp"]["accuracy"]) == {"last", "ema0.99", "ema0.998", "swa25"}
    assert "− last" in (tmp_path / "README.md").read_text()
