"""Length gains: pairs of trial-budget and full-length runs, shrunk per shots level, scaled by the work done."""

from __future__ import annotations

import math

import pytest

from warmstart.errors import DataError
from warmstart.knowledge._gains import PSEUDO_COUNT, STRATEGY_PSEUDO_COUNT, LengthGains, work_fraction


def run(task: str, shots: int, strategy: str, fidelity: str, acc: float | None, seed: int = 0) -> dict:
    return {"task": task, "key": f"{task}@{shots}shots", "shots": shots, "seed": seed, "source_task": "src",
            "strategy": strategy, "fidelity": fidelity, "test_accuracy": acc}


def rows() -> list[dict]:
    out = []
    for task, st, sf in [("a", 0.80, 0.95), ("b", 0.70, 0.90)]:  # self_training gains 0.15 and 0.20 at 5 shots
        out += [run(task, 5, "self_training", "trial", st), run(task, 5, "self_training", "full", sf)]
        out += [run(task, 5, "l2sp", "trial", 0.90), run(task, 5, "l2sp", "full", 0.91)]
    out += [run("a", 0, "self_training", "trial", 0.6), run("a", 0, "self_training", "full", 0.7)]
    out += [run("c", 5, "l2sp", "full", 0.99)]  # no trial run: no pair
    out += [run("d", 5, "l2sp", "trial", 0.5), run("d", 5, "l2sp", "full", None)]  # a failed full run: no pair
    return out


def test_pairs_are_matched_and_a_shots_level_is_shrunk_toward_the_strategys_mean():
    """Two levels: a shots level toward its strategy's mean, a strategy's mean toward every pair's."""
    g = LengthGains.fit(rows())
    assert g is not None
    assert sorted(g.pairs) == ["l2sp", "self_training"] and len(g.pairs["l2sp"]) == 2
    pooled = (0.15 + 0.20 + 0.10 + 0.01 + 0.01) / 5  # every pair of every strategy
    overall = (0.15 + 0.20 + 0.10 + STRATEGY_PSEUDO_COUNT * pooled) / (3 + STRATEGY_PSEUDO_COUNT)
    want = overall + (0.175 - 0.15) * 2 / (2 + PSEUDO_COUNT)  # 5 shots: 2.5 points above the strategy's mean
    assert g.gain("self_training", 5) == pytest.approx(want)
    assert g.gain("self_training", 10) == pytest.approx(want)  # nearest observed level: 5
    assert g.gain("self_training", 0) == pytest.approx(overall + (0.10 - 0.15) / (1 + PSEUDO_COUNT))
    l2sp = (0.01 + 0.01 + STRATEGY_PSEUDO_COUNT * pooled) / (2 + STRATEGY_PSEUDO_COUNT)
    assert g.gain("l2sp", 5) == pytest.approx(l2sp)  # one level: no deviation
    assert g.gain("fixmatch", 5) == 0.0  # never measured: no gain assumed
    assert g.gain("self_training", 5, fraction=0.5) == pytest.approx(want / 2)
    assert "2 strategies from 5 pairs" in g.describe()


def test_one_lucky_pair_is_pulled_toward_the_other_strategies_gains():
    """FixMatch's one pair of +0.48 does not make it gain 0.48 where ten strategies gain about 0.05."""
    out = [run("big", 5, "fixmatch", "trial", 0.36), run("big", 5, "fixmatch", "full", 0.84)]
    for i in range(10):
        out += [run(f"t{i}", 5, "l2sp", "trial", 0.90), run(f"t{i}", 5, "l2sp", "full", 0.95)]
    g = LengthGains.fit(out)
    pooled = (0.48 + 10 * 0.05) / 11
    assert g is not None and g.gain("fixmatch", 5) == pytest.approx((0.48 + 2 * pooled) / 3)  # 0.22, not 0.48
    assert g.gain("l2sp", 5) == pytest.approx((0.5 + 2 * pooled) / 12)  # ten pairs: barely moved (0.057)


def test_no_pairs_gives_none_and_json_round_trips():
    assert LengthGains.fit([run("a", 5, "l2sp", "trial", 0.9)]) is None
    g = LengthGains.fit(rows())
    assert g is not None and LengthGains.from_json(g.to_json()) == g
    with pytest.raises(DataError, match="malformed length gains"):
        LengthGains.from_json({"pairs": {"l2sp": [["x", 1]]}, "target": "test_accuracy"})


def test_work_fraction_is_log_linear_between_the_trial_and_the_full_length():
    assert work_fraction(1.0, 60.0) == 0.0
    assert work_fraction(60.0, 60.0) == 1.0 and work_fraction(100.0, 60.0) == 1.0
    assert work_fraction(math.sqrt(60.0), 60.0) == pytest.approx(0.5)
    assert work_fraction(3.0, 1.0) == 0.0  # the full length is no longer than a trial: nothing to gain


def test_gains_count_only_pairs_of_the_tasks_modality():
    """Image pairs say nothing of a tabular task; a pair of unknown modality (an older prior) counts for all."""
    out = [{**r, "modality": "image"} for r in rows()]
    out += [{**run("tab", 5, "l2sp", "trial", 0.97), "modality": "tabular"},
            {**run("tab", 5, "l2sp", "full", 0.98), "modality": "tabular"}]
    g = LengthGains.fit(out)
    assert g is not None
    assert g.gain("self_training", 5, modality="tabular") == 0.0  # measured on images only
    assert g.gain("l2sp", 5, modality="tabular") == pytest.approx(0.01)  # its one tabular pair, pooled with itself
    image_only = LengthGains.fit(rows())
    assert image_only is not None
    assert g.gain("self_training", 5, modality="image") == pytest.approx(image_only.gain("self_training", 5))
    assert g.gain("self_training", 5) > 0  # no modality given: every pair
    old = LengthGains.from_json({"target": "test_accuracy", "pairs": {"l2sp": [[5, 0.02]]}})
    assert old.pairs["l2sp"] == [(5, 0.02, None)] and old.gain("l2sp", 5, modality="tabular") > 0
    assert LengthGains.from_json(g.to_json()) == g

