"""Greedy portfolio (auto-sklearn 2.0): coverage first, then what the first member misses; cost-aware."""

from __future__ import annotations

import pytest

from warmstart.errors import ConfigError
from warmstart.knowledge._portfolio import greedy_portfolio, regret_matrix

# A is best on three of four tasks, B on the fourth, C is second on the three and last on the fourth
TABLE = {
    "t1": {"A": 0.90, "B": 0.60, "C": 0.85},
    "t2": {"A": 0.80, "B": 0.55, "C": 0.75},
    "t3": {"A": 0.95, "B": 0.70, "C": 0.90},
    "t4": {"A": 0.80, "B": 0.90, "C": 0.70},
}


def test_the_recipe_that_covers_most_tasks_comes_first_then_the_one_it_misses():
    port = greedy_portfolio(TABLE)
    assert [m.key for m in port] == ["A", "B"]  # then every task has its best: C adds nothing
    assert port[0].tasks_best == 3 and port[1].tasks_best == 1 and port[1].tasks_run == 4
    assert port[-1].mean_regret == pytest.approx(0.0)
    assert port[0].gain > port[1].gain > 0
    assert [m.key for m in greedy_portfolio(TABLE, size=1)] == ["A"]
    # the objective is the mean regret, not a count: a recipe second everywhere beats one that fails badly once
    steady = {t: {**v, "A": 0.0} if t == "t4" else v for t, v in TABLE.items()}
    assert greedy_portfolio(steady)[0].key == "C"


def test_a_cheap_recipe_nearly_as_good_comes_first_when_cost_counts():
    table = {f"t{i}": {"slow": 0.90, "cheap": 0.895, "bad": 0.5} for i in range(3)}
    seconds = {"slow": 100.0, "cheap": 1.0, "bad": 1.0}
    assert greedy_portfolio(table, seconds=seconds)[0].key == "slow"
    assert greedy_portfolio(table, seconds=seconds, cost_weight=0.01)[0].key == "cheap"


def test_an_unrun_recipe_counts_as_the_tasks_worst():
    _, keys, regret = regret_matrix({"t1": {"A": 0.9, "B": 0.5}, "t2": {"A": 0.7}}, normalize=True)
    assert keys == ["A", "B"] and regret.tolist() == [[0.0, 1.0], [0.0, 1.0]]
    # A is best where it ran but missing on t2 costs t2's worst (0.4): B, close on t1, comes first
    assert greedy_portfolio({"t1": {"A": 0.9, "B": 0.8, "C": 0.5}, "t2": {"B": 0.7, "C": 0.3}})[0].key == "B"


def test_bad_input():
    with pytest.raises(ConfigError, match="at least one task"):
        greedy_portfolio({})
    with pytest.raises(ConfigError, match="size"):
        greedy_portfolio(TABLE, size=0)
    with pytest.raises(ConfigError, match="cost_weight"):
        greedy_portfolio(TABLE, cost_weight=-1)
