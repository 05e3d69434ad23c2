"""The ensemble probe's weight average ("soup")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from benchmarks.ensemble_probe import SEED_STRIDE, member, soup, summary, write_report


def test_a_soup_of_two_models_averages_their_float_weights_and_leaves_the_inputs_unchanged() -> None:
    a, b = nn.Linear(3, 2), nn.Linear(3, 2)
    before = a.weight.detach().clone()
    m = soup([a, b])
    assert m is not None
    assert torch.allclose(m.weight, (a.weight + b.weight) / 2)
    assert torch.allclose(m.bias, (a.bias + b.bias) / 2)
    assert torch.equal(a.weight, before)


def test_a_soup_keeps_integer_buffers_of_the_first_model() -> None:
    a, b = nn.BatchNorm1d(4), nn.BatchNorm1d(4)
    a.num_batches_tracked = torch.tensor(3)
    b.num_batches_tracked = torch.tensor(5)
    m = soup([a, b])
    assert m is not None and int(m.num_batches_tracked) == 3


def test_models_of_different_shapes_make_no_soup() -> None:
    assert soup([nn.Linear(3, 2), nn.Linear(4, 2)]) is None
    assert soup([nn.Linear(3, 2), nn.Sequential(nn.Linear(3, 2))]) is None


def test_the_summary_measures_each_combination_against_the_best_member_of_each_cut_and_the_best_fixed_single(
        tmp_path: Path) -> None:
    accs = [{"a": 0.9, "b": 0.8, "a+b": 0.95}, {"a": 0.7, "b": 0.9, "a+b": 0.9}]
    rows = [{"task": "t", "shots": 5, "seed": s, "accuracy": acc, "seconds": {"a": 1.0, "b": 2.0}, "cpu": "cpu",
             "load_1m": 1.0} for s, acc in enumerate(accs)]
    table = {r["fit or combination"]: r for r in summary(rows)}
    assert table["a+b"]["mean accuracy"] == pytest.approx(0.925)
    assert table["a+b"]["− best single of the cut"] == pytest.approx(0.025)  # (0.95 − 0.9 + 0.9 − 0.9) / 2
    assert table["a+b"]["− b"] == pytest.approx(0.075)  # b (mean 0.85) is the best fixed single over a (0.8)
    cells = tmp_path / "cells.jsonl"
    cells.write_text("".join(json.dumps(r) + "\n" for r in rows))
    text = write_report(cells, "python -m benchmarks.ensemble_probe", "a note").read_text()
    assert "| t@5 seed 1 |" in text and "a note" in text


def test_a_member_name_is_a_strategy_and_its_seed_offset() -> None:
    assert member("mcc") == ("mcc", 0)  # the single strategy's own fit
    assert member("mcc#2") == ("mcc", 2)  # mcc trained with seed + 2 * SEED_STRIDE on the same cut
    assert SEED_STRIDE > 100  # far from the few seeds a benchmark cuts with
