"""The auto benchmark's contenders: which single strategies run on seeds past the first three."""

from __future__ import annotations

from typing import Any

from benchmarks._auto_contenders import BASE_SEEDS, CONTENDER_GAP, contenders, expected_singles, singles_for_seed
from benchmarks._auto_report import best_single, per_seed

APPLICABLE = ["finetune", "mcc", "self_training", "source_only"]
#: mean over seeds 0-2: mcc 0.970, self_training 0.965 (0.005 behind), source_only 0.950 (0.02), finetune 0.90
MEANS = {"finetune": 0.90, "mcc": 0.970, "self_training": 0.965, "source_only": 0.950}


def _runs(means: dict[str, float] = MEANS, seeds: tuple[int, ...] = BASE_SEEDS) -> list[dict[str, Any]]:
    return [{"arm": "single", "situation": "s", "seed": seed, "strategy": k, "accuracy": v + 0.001 * (seed - 1)}
            for k, v in means.items() for seed in seeds]


def test_contenders_are_the_strategies_within_the_gap_of_the_best_mean() -> None:
    assert MEANS["mcc"] - MEANS["self_training"] < CONTENDER_GAP < MEANS["mcc"] - MEANS["source_only"]
    assert contenders(_runs(), "s", APPLICABLE) == ["mcc", "self_training"]
    other = [{**r, "situation": "other"} for r in _runs({"finetune": 0.99})]
    assert contenders(_runs() + other, "s", APPLICABLE) == ["mcc", "self_training"]  # another situation's runs


def test_nothing_is_left_out_before_every_strategy_ran_every_base_seed() -> None:
    runs = [r for r in _runs() if not (r["strategy"] == "finetune" and r["seed"] == 2)]
    assert contenders(runs, "s", APPLICABLE) == APPLICABLE
    failed = [{**r, "accuracy": None} if r["strategy"] == "source_only" and r["seed"] == 0 else r for r in _runs()]
    assert contenders(failed, "s", APPLICABLE) == APPLICABLE  # a failed run is not a finished one


def test_base_seeds_expect_and_run_every_strategy_further_seeds_the_contenders() -> None:
    runs = _runs()
    assert expected_singles(runs, "s", APPLICABLE, [0, 1, 2]) == APPLICABLE
    assert expected_singles(runs, "s", APPLICABLE, [0, 1, 2, 3, 4]) == ["mcc", "self_training"]
    assert singles_for_seed(runs, "s", APPLICABLE, APPLICABLE, 1) == APPLICABLE
    assert singles_for_seed(runs, "s", APPLICABLE, APPLICABLE, 3) == ["mcc", "self_training"]
    assert singles_for_seed(runs, "s", APPLICABLE, ["finetune", "self_training"], 4) == ["self_training"]


def test_an_invocation_for_the_base_seeds_expects_the_contenders_once_other_seeds_ran() -> None:
    """The equal-time comparison runs on seeds 0-2 against the hindsight pick over every seed the single strategies
    ran on: once seeds 3 and 4 hold the contenders only, those are what every seed must have (it once asked for all
    four strategies on seeds 3 and 4, and so ran no auto at all)."""
    from benchmarks._auto_report import best_single_name

    extra = [{"arm": "single", "situation": "s", "seed": seed, "strategy": k, "accuracy": v}
             for seed in (3, 4) for k, v in (("mcc", 0.960), ("self_training", 0.980))]
    runs = _runs() + extra
    expected = expected_singles(runs, "s", APPLICABLE, [0, 1, 2])
    assert expected == ["mcc", "self_training"]
    assert best_single_name(runs, "s", [0, 1, 2], expected) == "self_training"
    assert best_single_name(runs, "s", [0, 1, 2], APPLICABLE) is None  # what it asked before


def test_over_five_seeds_the_hindsight_pick_is_among_the_contenders() -> None:
    # on seeds 3 and 4 self_training scores above mcc: over five seeds it is the pick; source_only and finetune,
    # which ran on seeds 0-2 only, are not in the pool
    extra = [{"arm": "single", "situation": "s", "seed": seed, "strategy": k, "accuracy": v}
             for seed in (3, 4) for k, v in (("mcc", 0.960), ("self_training", 0.980))]
    pick = best_single(per_seed(_runs() + extra, {}))
    assert pick is not None and pick[0] == "self_training" and len(pick[1]) == 5
