"""Length gains: pairs of trial-budget and full-length runs, shrunk per shots level, scaled by the work done."""

from __future__ import annotations

import math

import pytest

from warmstart.errors import DataError
from warmstart.knowledge._gains import EPSILON, PSEUDO_COUNT, STRATEGY_PSEUDO_COUNT, LengthGains, work_fraction


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


def lr(trial: float, full: float) -> float:
    """The log of the error a pair's full length kept."""
    return math.log((1 - full + EPSILON) / (1 - trial + EPSILON))


def test_pairs_are_matched_and_a_shots_level_is_shrunk_toward_the_strategys_mean():
    """Two levels: a shots level toward its strategy's mean, a strategy's mean toward every pair's (log ratios)."""
    g = LengthGains.fit(rows())
    assert g is not None
    assert sorted(g.pairs) == ["l2sp", "self_training"] and len(g.pairs["l2sp"]) == 2
    st5, st0, l2 = [lr(0.80, 0.95), lr(0.70, 0.90)], lr(0.6, 0.7), lr(0.90, 0.91)
    pooled = (sum(st5) + st0 + 2 * l2) / 5  # every pair of every strategy
    overall = (sum(st5) + st0 + STRATEGY_PSEUDO_COUNT * pooled) / (3 + STRATEGY_PSEUDO_COUNT)
    mean = (sum(st5) + st0) / 3
    want = overall + (sum(st5) / 2 - mean) * 2 / (2 + PSEUDO_COUNT)  # 5 shots: below the strategy's mean
    assert g.log_kept("self_training", 5) == pytest.approx(want)
    assert g.log_kept("self_training", 10) == pytest.approx(want)  # nearest observed level: 5
    assert g.log_kept("self_training", 0) == pytest.approx(overall + (st0 - mean) / (1 + PSEUDO_COUNT))
    assert g.log_kept("l2sp", 5) == pytest.approx((2 * l2 + STRATEGY_PSEUDO_COUNT * pooled) / 4)  # no deviation
    assert g.log_kept("fixmatch", 5) == 0.0 and g.gain("fixmatch", 5, score=0.5) == 0.0  # never measured
    # a trial at 0.8 keeps exp(want) of its error (plus ε) at the full length, half the log of it half-way
    kept = math.exp(want)
    assert g.gain("self_training", 5, score=0.8) == pytest.approx(0.2 - ((0.2 + EPSILON) * kept - EPSILON))
    half = 0.2 - ((0.2 + EPSILON) * math.sqrt(kept) - EPSILON)
    assert g.gain("self_training", 5, fraction=0.5, score=0.8) == pytest.approx(half)
    assert 0 < half < g.gain("self_training", 5, score=0.8)
    assert "2 strategies from 5 pairs" in g.describe()


def test_a_gain_is_a_share_of_the_error_left_so_it_never_promises_more_than_a_perfect_score():
    """+0.15 measured from 0.80 is not +0.15 from 0.93: the same share of the error left is removed."""
    out = [run("a", 5, "mcc", "trial", 0.80), run("a", 5, "mcc", "full", 0.95)]
    g = LengthGains.fit(out)
    assert g is not None
    kept = (0.05 + EPSILON) / (0.20 + EPSILON)
    assert g.gain("mcc", 5, score=0.80) == pytest.approx(0.15)  # the pair's own level: its own gain
    assert g.gain("mcc", 5, score=0.93) == pytest.approx(0.07 - ((0.07 + EPSILON) * kept - EPSILON))
    assert 0.93 + g.gain("mcc", 5, score=0.93) < 1.0 and g.gain("mcc", 5, score=1.0) == 0.0
    assert g.reference() == pytest.approx(0.80) and g.gain("mcc", 5) == pytest.approx(0.15)  # no score: the pairs'
    worse = LengthGains.fit([run("t", 5, "mcc", "trial", 0.98), run("t", 5, "mcc", "full", 0.94)])
    assert worse is not None and worse.gain("mcc", 5, score=0.9) < 0  # it lost on its task: negative


def test_one_lucky_pair_is_pulled_toward_the_other_strategies_gains():
    """FixMatch's one pair of 0.36 → 0.84 does not count in full where ten strategies gain little."""
    out = [run("big", 5, "fixmatch", "trial", 0.36), run("big", 5, "fixmatch", "full", 0.84)]
    for i in range(10):
        out += [run(f"t{i}", 5, "l2sp", "trial", 0.90), run(f"t{i}", 5, "l2sp", "full", 0.95)]
    g = LengthGains.fit(out)
    pooled = (lr(0.36, 0.84) + 10 * lr(0.90, 0.95)) / 11
    assert g is not None and g.log_kept("fixmatch", 5) == pytest.approx((lr(0.36, 0.84) + 2 * pooled) / 3)
    assert g.log_kept("l2sp", 5) == pytest.approx((10 * lr(0.90, 0.95) + 2 * pooled) / 12)  # barely moved
    assert g.gain("fixmatch", 5, score=0.36) < 0.84 - 0.36


def test_no_pairs_gives_none_and_json_round_trips():
    assert LengthGains.fit([run("a", 5, "l2sp", "trial", 0.9)]) is None
    g = LengthGains.fit(rows())
    assert g is not None and LengthGains.from_json(g.to_json()) == g
    with pytest.raises(DataError, match="malformed length gains"):
        LengthGains.from_json({"pairs": {"l2sp": [["x", 1]]}, "target": "test_accuracy"})
    with pytest.raises(DataError, match="malformed length gains"):  # a score outside [0, 1]
        LengthGains.from_json({"pairs": {"l2sp": [[5, 0.9, 1.5, None]]}, "target": "test_accuracy"})


def test_work_fraction_is_log_linear_between_the_trial_and_the_full_length():
    assert work_fraction(1.0, 60.0) == 0.0
    assert work_fraction(60.0, 60.0) == 1.0 and work_fraction(100.0, 60.0) == 1.0
    assert work_fraction(math.sqrt(60.0), 60.0) == pytest.approx(0.5)
    assert work_fraction(3.0, 1.0) == 0.0  # the full length is no longer than a trial: nothing to gain


def test_gains_count_only_pairs_of_the_tasks_modality():
    """Image pairs say nothing of a tabular task; a pair of unknown modality counts for all."""
    out = [{**r, "modality": "image"} for r in rows()]
    out += [{**run("tab", 5, "l2sp", "trial", 0.97), "modality": "tabular"},
            {**run("tab", 5, "l2sp", "full", 0.98), "modality": "tabular"}]
    g = LengthGains.fit(out)
    assert g is not None
    assert g.gain("self_training", 5, modality="tabular", score=0.9) == 0.0  # measured on images only
    assert g.gain("l2sp", 5, modality="tabular", score=0.97) == pytest.approx(0.01)  # its one tabular pair
    image_only = LengthGains.fit(rows())
    assert image_only is not None
    assert g.log_kept("self_training", 5, modality="image") == pytest.approx(image_only.log_kept("self_training", 5))
    assert g.gain("self_training", 5, score=0.9) > 0  # no modality given: every pair
    old = LengthGains.from_json({"target": "test_accuracy", "pairs": {"l2sp": [[5, 0.9, 0.95]]}})
    assert old.pairs["l2sp"] == [(5, 0.9, 0.95, None, None)] and old.gain("l2sp", 5, modality="tabular", score=0.9) > 0
    assert LengthGains.from_json(g.to_json()) == g


def test_strategies_are_pooled_per_unit_of_log_work_so_a_short_full_length_is_not_credited_a_long_ones_gain():
    """The fine-tuning family doubles its trial's steps, the adaptation loop runs 60 times them: pooled per unit
    of log work, a strategy with one pair is pulled toward what its own length would gain, not toward the
    sixtyfold gains of the long strategies."""
    out = []
    for i in range(6):  # a long strategy: 50 → 3000 steps, a big gain
        out += [{**run(f"t{i}", 5, "mcc", "trial", 0.80), "steps": 50},
                {**run(f"t{i}", 5, "mcc", "full", 0.96), "steps": 3000}]
    out += [{**run("u", 5, "llrd", "trial", 0.80), "steps": 50},  # a short one: 50 → 100 steps, one small gain
            {**run("u", 5, "llrd", "full", 0.82), "steps": 100}]
    g = LengthGains.fit(out)
    assert g is not None and g.pairs["llrd"][0][4] == pytest.approx(math.log(2))
    long_, short = math.log(60), math.log(2)
    pooled = (6 * lr(0.80, 0.96) / long_ + lr(0.80, 0.82) / short) / 7  # every pair's log ratio per log work
    want = short * (lr(0.80, 0.82) / short + STRATEGY_PSEUDO_COUNT * pooled) / (1 + STRATEGY_PSEUDO_COUNT)
    assert g.log_kept("llrd", 5) == pytest.approx(want)
    totals = LengthGains.fit([{k: v for k, v in r.items() if k != "steps"} for r in out])  # steps unknown
    assert totals is not None and totals.pairs["llrd"][0][4] is None
    # pooled as totals, llrd would be credited most of mcc's gain; per unit of work, little more than its own
    assert totals.gain("llrd", 5, score=0.8) > 0.06 > g.gain("llrd", 5, score=0.8) > 0.02
    assert g.gain("mcc", 5, score=0.8) == pytest.approx(totals.gain("mcc", 5, score=0.8), abs=0.01)
    assert LengthGains.from_json(g.to_json()) == g
    with pytest.raises(DataError, match="malformed length gains"):  # a log work that is not positive
        LengthGains.from_json({"pairs": {"l2sp": [[5, 0.9, 0.95, None, -1.0]]}, "target": "test_accuracy"})


def test_error_std_is_the_root_mean_square_miss_of_the_predicted_gains():
    g = LengthGains.fit(rows())
    assert g is not None
    misses = [f - t - g.gain(s, k, score=t) for s, ps in g.pairs.items() for k, t, f, *_ in ps]
    assert g.error_std() == pytest.approx(math.sqrt(sum(m * m for m in misses) / len(misses)))
    assert g.error_std() > 0 and LengthGains({}).error_std() == 0.0
