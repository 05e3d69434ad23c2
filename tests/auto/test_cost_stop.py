"""auto's cost-aware stop: one more trial only when it is expected to add more than it costs the final fit
(warmstart/auto/cost_stop.py)."""

from __future__ import annotations

import json
import math
import random
from typing import Any

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import create_trial

from warmstart.auto.cost_stop import another_trial_pays, expected_max, next_queued, search_pays
from warmstart.auto.prior_plan import PriorPlan
from warmstart.knowledge._prior_table import RecipeSpec
from warmstart.knowledge.prior import Pick, Prior, fit_prior
from warmstart.tasks import get_task


def _prior(gains: bool = True) -> Prior:
    """l2sp and finetune predicted alike; finetune gains 10 points from its full length (with ``gains``)."""
    rng = random.Random(0)
    rows = [{"task": f"t{t}@5shots", "shots": 5, "strategy": s, "seed": 0, "params": json.dumps({"lr": 1e-3}),
             "score": 0.9 + rng.gauss(0, 0.05), "metric": "val_accuracy", "seconds": 10.0,
             "mf_log_n_classes": rng.uniform(1.5, 2.5)}
            for t in range(4) for s in ("l2sp", "finetune")]
    pairs = [{"task": f"g{t}", "shots": 5, "seed": 0, "source_task": "s", "strategy": "finetune", "fidelity": f,
              "test_accuracy": a} for t in range(2) for f, a in (("trial", 0.8), ("full", 0.9))]
    return fit_prior(rows, gain_rows=pairs if gains else None)


def _study(queued: str | None = "l2sp") -> optuna.Study:
    """One completed finetune trial (2 s a fit), and ``queued`` waiting as the next queued trial."""
    dists = {"source": CategoricalDistribution(["src"]), "strategy": CategoricalDistribution(["l2sp", "finetune"]),
             "finetune.lr": FloatDistribution(1e-5, 1e-1, log=True)}
    study = optuna.create_study(direction="maximize")
    study.add_trial(create_trial(params={"source": "src", "strategy": "finetune", "finetune.lr": 1e-3}, value=0.88,
                                 distributions=dists, user_attrs={"fit_seconds": 2.0, "fold_scores": [0.88] * 3},
                                 system_attrs={"fixed_params": {"source": "src", "strategy": "finetune"}}))
    if queued is not None:
        study.enqueue_trial({"source": "src", "strategy": queued, f"{queued}.lr": 1e-3})
    return study


def _verdict(prior: Prior, study: optuna.Study, shots: int = 5, picks: bool = False, **kw: Any) -> Any:
    task = get_task("digits").few_shot(shots, seed=0)
    plan = PriorPlan(prior, {"mf_log_n_classes": 2.0, "shots": shots}, {"src": {}}, ["l2sp", "finetune"], None)
    if picks:  # the prior queued its picks (only their number matters here)
        plan.configs = [{"source": "src", "strategy": "finetune"}, {"source": "src", "strategy": "l2sp"}]
    return another_trial_pays(study, plan, task, 0, **kw)


@pytest.fixture(scope="module")
def prior() -> Prior:
    return _prior()


def test_expected_max_is_the_normal_expected_improvement_and_ends_at_one() -> None:
    assert expected_max(0.8, 0.7, 0.0, 0.8) == 0.8 and expected_max(0.8, 0.9, 0.0, 0.8) == 0.9
    closed = 0.5 + 0.05 * math.exp(0) / math.sqrt(2 * math.pi)  # base = mean = threshold: base + std·φ(0)
    assert expected_max(0.5, 0.5, 0.05, 0.5) == pytest.approx(closed, abs=1e-6)
    assert expected_max(0.5, 0.5, 0.05, 0.55) < closed  # a higher bar (the one-SE rule) is worth less
    assert expected_max(1.0, 1.0, 0.05, 1.0) == pytest.approx(1.0)  # nothing beats a perfect score


def test_next_queued_is_the_first_waiting_configuration() -> None:
    queued = next_queued(_study("l2sp"))
    assert queued is not None and queued["strategy"] == "l2sp"
    assert next_queued(_study(None)) is None


def test_a_trial_that_would_cut_the_winners_final_fit_short_does_not_run(prior: Prior) -> None:
    """The finetune incumbent's full-length fit fits in 60 s but not in the 60 − 58 s a trial would leave:
    the queued l2sp, predicted no better, is not worth its seconds."""
    verdict = _verdict(prior, _study(), seconds_left=60.0, trial_seconds=58.0)
    assert not verdict.run and verdict.stop_value > verdict.continue_value
    assert "stopped after 1 completed trial" in verdict.note and "l2sp" in verdict.note


def test_a_trial_that_costs_the_final_fit_nothing_runs(prior: Prior) -> None:
    verdict = _verdict(prior, _study(), seconds_left=1000.0, trial_seconds=20.0)  # the full length fits either way
    assert verdict.run and verdict.continue_value > verdict.stop_value and not verdict.note
    drawn = _verdict(prior, _study(None), seconds_left=1000.0, trial_seconds=20.0)  # TPE's next draw
    assert drawn.run


def test_a_drawn_configuration_runs_only_in_the_time_the_picks_final_fit_does_not_need(prior: Prior) -> None:
    """With no queued trial left the sampler would draw: that draw runs only while the finetune pick's full-length
    fit (2 s a trial) still fits after it, whatever the value of a draw."""
    tight = _verdict(prior, _study(None), seconds_left=60.0, trial_seconds=58.0)
    assert not tight.run and tight.stop_value is None
    assert "another drawn configuration (about 58 s) would cut the final fit of finetune" in tight.note
    assert "drawn configurations have rarely overturned the prior's picks" in tight.note
    assert _verdict(prior, _study(None), seconds_left=1000.0, trial_seconds=58.0).run  # slack: the draw runs
    queued = _verdict(prior, _study("l2sp"), seconds_left=60.0, trial_seconds=58.0)  # a queued pick is weighed
    assert queued.stop_value is not None and "queued l2sp" in queued.note


def test_without_length_gains_or_labels_or_time_budget_every_trial_runs(prior: Prior) -> None:
    tight: dict[str, Any] = {"seconds_left": 60.0, "trial_seconds": 58.0}
    assert _verdict(_prior(gains=False), _study(), **tight).run  # nothing to lose: the final fit gains nothing
    assert _verdict(prior, _study(None), shots=0, **tight).run  # label-free, and no pick of the prior's queued
    assert _verdict(prior, _study(), seconds_left=None, trial_seconds=58.0).run  # a trial budget
    assert _verdict(prior, _study(), seconds_left=60.0, trial_seconds=None).run  # no trial timed yet


def test_a_label_free_search_runs_the_priors_picks_then_stops(prior: Prior) -> None:
    """Without target labels (``shots=0``: information maximization on the pool) the queued picks run while they
    cost the winner's final fit nothing, and no drawn configuration follows them."""
    roomy: dict[str, Any] = {"seconds_left": 1000.0, "trial_seconds": 20.0}
    assert _verdict(prior, _study("l2sp"), shots=0, picks=True, **roomy).run
    after = _verdict(prior, _study(None), shots=0, picks=True, **roomy)
    assert not after.run and after.stop_value is None
    assert "after 1 completed trial(s), once the prior's picks had run" in after.note and "label-free" in after.note
    assert _verdict(prior, _study(None), shots=0, picks=True, seconds_left=None, trial_seconds=20.0).run  # trials
    assert _verdict(prior, _study(None), shots=5, picks=True, **roomy).run  # labelled: the knowledge gradient
    # a queued pick that would cut the winner's final fit short does not run: label-free scores rarely change the pick
    tight = _verdict(prior, _study("l2sp"), shots=0, picks=True, seconds_left=60.0, trial_seconds=58.0)
    assert not tight.run and "label-free, which rarely change the prior's pick" in tight.note
    assert "would cut the final fit of finetune from 100% to" in tight.note


def test_with_one_label_per_class_under_a_time_budget_auto_does_not_search(prior: Prior) -> None:
    """Leave-one-out on one label per class holds out the only label of each held-out class: no trial can rank
    recipes there, so under a time budget the prior's first pick gets it all; otherwise the search runs."""
    plan = PriorPlan(prior, {"shots": 1}, {"src": {}}, ["l2sp", "finetune"], None)
    plan.picks = [Pick(RecipeSpec("l2sp", {"lr": 1e-3}), "src", 0.1, 0.1, 10.0, 0.1, None, "why")]
    plan.configs = [{"source": "src", "strategy": "l2sp", "l2sp.lr": 1e-3}]
    one, two, five = (get_task("digits").few_shot(k, seed=0) for k in (1, 2, 5))
    verdict = search_pays(plan, one, 0, seconds_left=100.0)
    assert not verdict.run and verdict.note.startswith("no search: with one label per class")
    assert "l2sp (lr=0.001)" in verdict.note
    assert search_pays(plan, one, 0, seconds_left=None).run  # a trial budget: trials cost the final fit nothing
    # two labels (each held-out class keeps one to train on) and k-fold CV: a single pick's trial could change
    # nothing, so the search runs only under a trial budget (see the labelled test below for two picks)
    for task in (two, five):
        assert not search_pays(plan, task, 0, seconds_left=100.0).run
        assert search_pays(plan, task, 0, seconds_left=None).run
    assert search_pays(None, one, 0, seconds_left=100.0).run  # the rules: the search, as before
    nothing = PriorPlan(prior, {}, {}, ["l2sp"], None)
    assert search_pays(nothing, one, 0, seconds_left=100.0).run  # the prior picked nothing


def test_without_labels_auto_searches_only_when_the_picks_leave_the_first_ones_full_length(prior: Prior) -> None:
    """Label-free: the first trial alone cannot change the first pick, and a second pick runs only while the first
    pick's full length still fits after it; so under a time budget too short for both trials and that full
    length the first pick gets it all, timed by the prior's cost model."""
    plan = PriorPlan(prior, {"shots": 0}, {"src": {}}, ["mcc", "cdan"], None)
    plan.picks = [Pick(RecipeSpec(s, {}), "src", 0.1, 0.1, 10.0, 0.1, None, "why") for s in ("mcc", "cdan")]
    plan.configs = [{"source": "src", "strategy": "mcc"}, {"source": "src", "strategy": "cdan"}]
    pool = get_task("digits").few_shot(0, seed=0)
    full = 10.0 * 3000 / 50  # mcc's trial runs 50 of its 3,000 steps: its full length is 60 trials' work
    short = search_pays(plan, pool, 0, seconds_left=0.9 * full)
    assert not short.run and short.note.startswith("no search: the scores are label-free")
    assert "mcc" in short.note
    assert search_pays(plan, pool, 0, seconds_left=full + 25.0).run  # both trials and the full length fit
    assert search_pays(plan, pool, 0, seconds_left=None).run  # a trial budget: trials cost the final fit nothing
    single = PriorPlan(prior, {"shots": 0}, {"src": {}}, ["mcc"], None, picks=plan.picks[:1],
                       configs=plan.configs[:1])
    assert not search_pays(single, pool, 0, seconds_left=10 * full).run  # one trial alone could change nothing
    unknown = PriorPlan(prior, {"shots": 0}, {"src": {}}, ["mcc", "cdan"], None, configs=plan.configs,
                        picks=[Pick(RecipeSpec(s, {}), "src", 0.1, 0.1, None, 0.1, None, "w") for s in ("mcc", "cdan")])
    assert search_pays(unknown, pool, 0, seconds_left=0.9 * full).run  # no predicted seconds: the search, as before


def test_with_labels_auto_searches_only_when_the_first_two_picks_leave_the_first_ones_full_length(
        prior: Prior) -> None:
    """With labels the second pick replaces the first only where it beats it by one standard error (the final
    choice's rule), so, as without labels, a budget too short for both trials and the first pick's full length
    goes to the first pick whole; a roomy one searches."""
    plan = PriorPlan(prior, {"shots": 5}, {"src": {}}, ["mcc", "cdan"], None)
    plan.picks = [Pick(RecipeSpec(s, {}), "src", 0.1, 0.1, 10.0, 0.1, None, "why") for s in ("mcc", "cdan")]
    plan.configs = [{"source": "src", "strategy": "mcc"}, {"source": "src", "strategy": "cdan"}]
    from warmstart.validation import plan_validation

    labelled = get_task("digits").few_shot(5, seed=0)
    folds = len(plan_validation(labelled, "auto", seed=0).folds)
    assert folds > 1  # k-fold CV: a trial's 10 s are k fits
    full = 10.0 / folds * 3000 / 50
    short = search_pays(plan, labelled, 0, seconds_left=0.9 * full + 20.0)
    assert not short.run and short.note.startswith("no search: the first trial alone cannot change")
    assert "more than one standard error" in short.note and "mcc" in short.note
    assert search_pays(plan, labelled, 0, seconds_left=full + 25.0).run  # a trial's seconds, not a fit's, would cut
    assert search_pays(plan, labelled, 0, seconds_left=None).run


def test_a_drawn_configuration_is_worth_the_mean_over_the_strategies_the_sampler_can_draw() -> None:
    """Before TPE draws, its configuration is any strategy of the joint space: one predicted 40 points below the
    incumbent (linear_probe here) is a draw that cannot win, and lowers what one more draw is worth."""
    rng = random.Random(1)
    rows = [{"task": f"t{t}@5shots", "shots": 5, "strategy": s, "seed": 0, "params": json.dumps({"lr": 1e-3}),
             "score": level + rng.gauss(0, 0.02), "metric": "val_accuracy", "seconds": 10.0,
             "mf_log_n_classes": rng.uniform(1.5, 2.5)}
            for t in range(4) for s, level in (("l2sp", 0.9), ("finetune", 0.9), ("linear_probe", 0.5))]
    pairs = [{"task": f"g{t}", "shots": 5, "seed": 0, "source_task": "s", "strategy": "finetune", "fidelity": f,
              "test_accuracy": a} for t in range(2) for f, a in (("trial", 0.8), ("full", 0.9))]
    prior = fit_prior(rows, gain_rows=pairs)
    task = get_task("digits").few_shot(5, seed=0)
    roomy: dict[str, Any] = {"seconds_left": 1000.0, "trial_seconds": 20.0}

    def value(strategies: list[str]) -> float:
        plan = PriorPlan(prior, {"mf_log_n_classes": 2.0, "shots": 5}, {"src": {}}, strategies, None)
        verdict = another_trial_pays(_study(None), plan, task, 0, **roomy)
        assert verdict.continue_value is not None and verdict.stop_value is not None
        return verdict.continue_value - verdict.stop_value

    both, with_weak = value(["l2sp", "finetune"]), value(["l2sp", "finetune", "linear_probe"])
    assert both > 0 and 0 <= with_weak < both
    assert with_weak == pytest.approx(both * 2 / 3, rel=0.05)  # the weak third adds (about) nothing to the mean


def test_each_candidate_is_timed_by_its_own_fit_not_the_incumbents() -> None:
    """A strategy that ran is timed by its latest trial; one that has not, by the incumbent's fit scaled by the
    prior's cost model (l2sp's trials took 4 times finetune's in its table here); without a cost model, by
    the incumbent's. Timing a slow strategy by a fast incumbent had valued its final fit as if it were fast."""
    from warmstart.auto.cost_stop import fit_seconds

    rng = random.Random(2)
    rows = [{"task": f"t{t}@5shots", "shots": 5, "strategy": s, "seed": 0, "params": json.dumps({"lr": 1e-3}),
             "score": 0.9 + rng.gauss(0, 0.02), "metric": "val_accuracy", "seconds": secs * rng.uniform(0.9, 1.1),
             "mf_log_n_classes": rng.uniform(1.5, 2.5)}
            for t in range(6) for s, secs in (("finetune", 10.0), ("l2sp", 40.0))]
    prior = fit_prior(rows)
    plan = PriorPlan(prior, {"mf_log_n_classes": 2.0, "shots": 5}, {"src": {}}, ["l2sp", "finetune"], None)
    study = _study(None)
    done = study.get_trials()
    incumbent = done[0]  # finetune, 2 s a fit
    timed = fit_seconds(plan, done, incumbent, ["finetune", "l2sp"], None)
    assert timed["finetune"] == (2.0, None)
    fit, train = timed["l2sp"]
    assert fit is not None and 5.0 < fit < 16.0 and train is None  # about 4 x 2 s
    # l2sp ran meanwhile (9 s a fit): its own seconds win
    dists = {"source": CategoricalDistribution(["src"]), "strategy": CategoricalDistribution(["l2sp", "finetune"])}
    ran = create_trial(params={"source": "src", "strategy": "l2sp"}, value=0.87, distributions=dists,
                       user_attrs={"fit_seconds": 9.0, "train_seconds": 8.0})
    assert fit_seconds(plan, [*done, ran], incumbent, ["l2sp"], None)["l2sp"] == (9.0, 8.0)
    # no cost model (no timed rows): the incumbent's
    untimed = fit_prior([{**r, "seconds": None} for r in rows])
    plan = PriorPlan(untimed, {"mf_log_n_classes": 2.0, "shots": 5}, {"src": {}}, ["l2sp", "finetune"], None)
    assert fit_seconds(plan, done, incumbent, ["l2sp"], None)["l2sp"] == (2.0, None)


def test_a_first_pick_whose_trials_run_at_its_full_length_leaves_the_search_free(prior: Prior) -> None:
    """A second trial cannot cut a final fit that keeps its trials' length (linear_probe's trials run at its full
    length; a length the user fixed): the search runs, however short the budget, where mcc's would not."""
    labelled = get_task("digits").few_shot(5, seed=0)
    for first, runs in (("linear_probe", True), ("mcc", False)):
        plan = PriorPlan(prior, {"shots": 5}, {"src": {}}, [first, "cdan"], None)
        plan.picks = [Pick(RecipeSpec(s, {}), "src", 0.1, 0.1, 10.0, 0.1, None, "why") for s in (first, "cdan")]
        plan.configs = [{"source": "src", "strategy": s} for s in (first, "cdan")]
        assert search_pays(plan, labelled, 0, seconds_left=30.0).run is runs
        assert search_pays(plan, labelled, 0, seconds_left=30.0, overrides={"epochs": 2}).run  # a fixed length
