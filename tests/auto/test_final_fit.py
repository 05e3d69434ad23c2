"""The winner's final fit: its strategy's full length when it fits, the longest that fits otherwise."""

from __future__ import annotations

import pytest

from warmstart.auto.final_fit import LONGER, final_fit, longer, training_steps, training_work
from warmstart.auto.trial_budget import trial_budget
from warmstart.engine.horizon import KEEP_SHARE
from warmstart.strategies import strategy_class


@pytest.mark.parametrize("strategy", ["l2sp", "self_training", "fixmatch", "dann"])
def test_full_length_is_the_strategy_defaults_with_the_trials_other_settings(strategy: str) -> None:
    trial = {**trial_budget(strategy), "lr": 0.02}
    f = final_fit(strategy, trial, None, n_labelled=50, trial_seconds=2.0, seconds_left=None)
    assert f.length == "full"
    assert f.params == {"lr": 0.02}  # every length setting back at the strategy's default
    defaults = {k: p.default for k, p in strategy_class(strategy).param_table().items()}
    assert training_steps(strategy, f.params, 50) == training_steps(strategy, defaults, 50)
    assert f.work_ratio > 1.0 and f.predicted_seconds == pytest.approx(2.0 * f.work_ratio)


def test_the_work_counts_steps_and_examples_per_step() -> None:
    # self_training: 50 steps of 32 source + 2 x 32 pool (weak, strong) + 32 labelled examples
    assert training_work("self_training", trial_budget("self_training"), 50) == 50 * (32 + 64 + 32)
    # at its defaults: 3,000 steps, an unlabelled batch 3x the labelled one
    assert training_work("self_training", {}, 50) == 3000 * (32 + 192 + 32)
    # fine-tuning 50 labels in batches of 32: 2 steps per epoch; min_steps 50 → 25 epochs of 2 steps
    budget = {**trial_budget("l2sp"), "batch_size": 32}
    assert training_steps("l2sp", budget, 50) == 50
    assert training_work("l2sp", budget, 50) == 50 * 32


def test_a_full_length_that_does_not_fit_is_scaled_to_the_time_left() -> None:
    trial = trial_budget("self_training")
    f = final_fit("self_training", trial, None, n_labelled=50, trial_seconds=4.0, seconds_left=60.0)
    assert f.length == "scaled"
    assert 1.0 < f.work_ratio <= 15.0 + 1e-6  # 60 s / 4 s per trial fit
    assert f.predicted_seconds is not None and f.predicted_seconds <= 60.0 + 1e-6
    steps = training_steps("self_training", f.params, 50)
    assert 50 < steps < 3000
    assert "do not fit" in f.note


def test_no_time_for_more_keeps_the_trials_length() -> None:
    trial = trial_budget("dann")
    f = final_fit("dann", trial, None, n_labelled=50, trial_seconds=10.0, seconds_left=8.0)
    assert (f.length, f.params) == ("trial", trial)


def test_a_length_the_user_fixed_is_kept() -> None:
    trial = {**trial_budget("finetune"), "epochs": 3}
    f = final_fit("finetune", trial, {"epochs": 3}, n_labelled=50, trial_seconds=1.0, seconds_left=None)
    assert (f.length, f.params) == ("trial", trial)
    assert "fix" in f.note


def test_a_strategy_trained_at_its_defaults_in_trials_is_not_retrained_longer() -> None:
    f = final_fit("linear_probe", {}, None, n_labelled=50, trial_seconds=1.0, seconds_left=None)
    assert (f.length, f.work_ratio) == ("trial", 1.0)


def test_a_strategy_that_lost_from_its_full_length_on_past_tasks_keeps_the_trials_length() -> None:
    """On small tabular tasks dann scored lower after 3,000 steps than after 50: a negative length gain keeps
    the trials' length; a positive or unknown one changes nothing."""
    trial = trial_budget("dann")
    lost = final_fit("dann", trial, None, n_labelled=50, trial_seconds=0.4, seconds_left=None, gain=-0.03)
    assert (lost.length, lost.params, lost.work_ratio) == ("trial", trial, 1.0)
    assert "lower at its full length (length gain -0.030)" in lost.note
    for gain in (None, 0.0, 0.05):
        assert final_fit("dann", trial, None, 50, 0.4, None, gain=gain).length == "full"


def test_a_final_fit_is_predicted_from_the_trials_step_time_plus_its_fixed_part() -> None:
    """cdan on digits: a 50-step trial fit of 21 s spent 7.5 s in steps; 973 steps took 159 s, not 21 x 19.5."""
    from warmstart.auto.final_fit import predicted_seconds

    assert predicted_seconds(21.0, 7.5, 19.46) == pytest.approx(21.0 - 7.5 + 7.5 * 19.46)  # 159 s
    assert predicted_seconds(21.0, None, 19.46) == pytest.approx(21.0 * 19.46)  # unknown step time: all scales
    assert predicted_seconds(21.0, 30.0, 2.0) == pytest.approx(42.0)  # an impossible split is not trusted
    trial = trial_budget("cdan")
    whole = final_fit("cdan", trial, None, 50, trial_seconds=21.0, seconds_left=622.0)
    steps = final_fit("cdan", trial, None, 50, trial_seconds=21.0, seconds_left=622.0, train_seconds=7.5)
    assert whole.length == "scaled" and steps.length == "full"  # 13.5 + 7.5 x 60 = 464 s fit in 622 s
    assert steps.predicted_seconds == pytest.approx(13.5 + 7.5 * steps.work_ratio)
    tight = final_fit("cdan", trial, None, 50, trial_seconds=21.0, seconds_left=200.0, train_seconds=7.5)
    assert tight.length == "scaled" and tight.predicted_seconds is not None and tight.predicted_seconds <= 200.0 + 1e-6
    assert tight.work_ratio > whole.work_ratio * 200.0 / 622.0  # more of the way than the whole-fit scaling allows


def test_a_trials_fit_seconds_come_from_its_first_fold_with_the_steps_scaled_to_every_label() -> None:
    """A fold of 3-fold CV trains on 2/3 of the labels: fine-tuning's steps grow with them, the adaptation
    loop's fixed steps (with a labelled batch of 32 either way) do not."""
    from types import SimpleNamespace

    from warmstart.auto.final_fit import trial_fit_seconds

    def run(fit: float | None, train: float | None, labels: int | None) -> SimpleNamespace:
        return SimpleNamespace(fold_scores=[0.9, 0.8, 0.85], validation="kfold", seconds=90.0, fit_seconds=fit,
                               train_seconds=train, fit_labels=labels)

    ft = {"epochs": 10}  # 10 epochs of batches of 32: more steps on 120 labels than on 40
    fit, train = trial_fit_seconds(run(20.0, 8.0, 40), "finetune", ft, 120)
    ratio = training_work("finetune", ft, 120) / training_work("finetune", ft, 40)
    assert ratio > 1.2 and (fit, train) == (pytest.approx(12.0 + 8.0 * ratio), pytest.approx(8.0 * ratio))
    da = trial_budget("cdan")
    assert trial_fit_seconds(run(20.0, 8.0, 33), "cdan", da, 50) == (pytest.approx(20.0), pytest.approx(8.0))
    old = trial_fit_seconds(run(None, None, None), "cdan", da, 50)
    assert old == (pytest.approx(45.0), None)  # not measured: the run's seconds per fold, times 3/2


def test_under_a_deadline_a_full_fit_of_a_strategy_that_gains_past_it_is_planned_longer() -> None:
    trial = {**trial_budget("mcc"), "lr": 0.02}
    full = final_fit("mcc", trial, None, n_labelled=50, trial_seconds=1.0, seconds_left=None)
    f = longer(full, "mcc", 50, deadline=True)
    assert f.length == "longer" and f.params == {"lr": 0.02, "iterations": round(LONGER["mcc"] * 3000)}
    assert f.work_ratio == pytest.approx(LONGER["mcc"] * full.work_ratio)
    assert f.predicted_seconds is None  # the deadline horizon, not a prediction, fits it to the budget
    assert "up to 2x" in f.note and "shortened to the steps that fit" in f.note
    assert f.keep_share == 1.0 and full.keep_share == KEEP_SHARE  # any projected miss shortens a longer plan


def test_without_a_deadline_or_a_gain_past_the_full_length_the_plan_is_kept() -> None:
    mcc = final_fit("mcc", trial_budget("mcc"), None, 50, 1.0, None)
    assert longer(mcc, "mcc", 50, deadline=False) is mcc  # a trial budget: no deadline to shorten it
    dann = final_fit("dann", trial_budget("dann"), None, 50, 1.0, None)
    assert "dann" not in LONGER and longer(dann, "dann", 50, deadline=True) is dann
    scaled = final_fit("mcc", trial_budget("mcc"), None, 50, trial_seconds=4.0, seconds_left=60.0)
    assert scaled.length == "scaled" and longer(scaled, "mcc", 50, deadline=True) is scaled
    fixed = final_fit("mcc", {**trial_budget("mcc"), "iterations": 80}, {"iterations": 80}, 50, 1.0, None)
    assert longer(fixed, "mcc", 50, deadline=True) is fixed  # the user's length
    per_epoch = final_fit("mcc", {**trial_budget("mcc"), "lr": 0.02}, None, 50, 1.0, None)
    split = type(per_epoch)({**per_epoch.params, "iters_per_epoch": 100}, "full", 1.0, None, "")
    assert longer(split, "mcc", 50, deadline=True) is split  # steps set as epochs x iters_per_epoch
