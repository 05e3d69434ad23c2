"""The few-shot validation protocol's cost: how many fits one trial makes."""

from __future__ import annotations

from warmstart.tasks import get_task
from warmstart.validation import trial_fits


def test_a_trial_fits_each_fold_of_the_protocol() -> None:
    digits = get_task("digits")
    assert trial_fits(digits.few_shot(5, seed=0)) == 3  # stratified 3-fold CV on the support set
    assert trial_fits(digits.few_shot(1, seed=0)) == 3  # leave-one-out, at most 3 folds
    assert trial_fits(digits.few_shot(0, seed=0)) == 1  # a label-free score on the pool: one fit
