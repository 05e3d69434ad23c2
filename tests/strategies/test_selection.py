"""Label-free selection scores: entropy, information maximization, DEV, the pick rule."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from warmstart.strategies._selection import (
    SELECTORS,
    density_ratios,
    dev_risk,
    entropy_score,
    infomax_score,
    pick,
)


def test_entropy_and_infomax_values() -> None:
    uniform = torch.full((4, 4), 0.25)
    assert entropy_score(uniform) == pytest.approx(math.log(4), abs=1e-5)
    assert infomax_score(uniform) == pytest.approx(0.0, abs=1e-5)
    onehot_diverse = torch.eye(4)
    assert entropy_score(onehot_diverse) == pytest.approx(0.0, abs=1e-5)
    assert infomax_score(onehot_diverse) == pytest.approx(math.log(4), abs=1e-4)
    onehot_collapsed = torch.eye(4)[[0, 0, 0, 0]]
    assert infomax_score(onehot_collapsed) == pytest.approx(0.0, abs=1e-4)  # confident but not diverse


def test_dev_risk_matches_formula() -> None:
    rng = np.random.default_rng(0)
    w = rng.uniform(0.2, 3.0, 200)
    loss = rng.uniform(0.0, 2.0, 200) + 0.5 * w
    wl = w * loss
    eta = -np.cov(wl, w)[0, 1] / np.var(w, ddof=1)
    assert dev_risk(w, loss) == pytest.approx(wl.mean() + eta * w.mean() - eta)
    # constant weights: the control variate vanishes and the risk is the mean loss
    assert dev_risk(np.ones(50), loss[:50]) == pytest.approx(loss[:50].mean())


def test_density_ratios_track_the_shift() -> None:
    rng = np.random.default_rng(0)
    src = rng.normal(0, 1, (300, 2))
    tgt = rng.normal(0, 1, (300, 2)) + np.array([1.5, 0.0])
    val = np.array([[-2.0, 0.0], [0.0, 0.0], [2.0, 0.0]])
    w = density_ratios(src, tgt, val)
    assert w[0] < w[1] < w[2]  # more target-like, larger weight
    same = density_ratios(src, rng.normal(0, 1, (300, 2)), val)
    assert np.all((same > 0.5) & (same < 2.0))


def test_pick_follows_mode_and_ignores_unscored() -> None:
    cands = [{"epoch": 1, "sel_entropy": 0.5, "sel_infomax": 1.0, "sel_dev": 2.0, "sel_source_accuracy": 0.9},
             {"epoch": 2, "sel_entropy": 0.2, "sel_infomax": 1.5, "sel_dev": 3.0, "sel_source_accuracy": 0.8},
             {"epoch": 3, "sel_entropy": 0.4, "sel_infomax": 0.5, "sel_dev": 1.0, "sel_source_accuracy": 0.9}]
    assert pick(cands, "entropy") == 1 and pick(cands, "infomax") == 1
    assert pick(cands, "dev") == 2 and pick(cands, "source_accuracy") == 0  # ties: earliest
    assert pick(cands, "last") == 2
    assert set(SELECTORS) == {"source_accuracy", "entropy", "infomax", "dev", "last"}
