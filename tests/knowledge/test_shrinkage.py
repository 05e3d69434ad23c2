"""Shrinkage of a few-shot validation score toward the prior (normal-normal posterior)."""

from __future__ import annotations

import math

import pytest

from warmstart.errors import ConfigError
from warmstart.knowledge._shrinkage import (
    MIN_PRIOR_STD,
    PRIOR_STD_PSEUDO_COUNT,
    shrink,
    task_prior_std,
    validation_variance,
)


def test_few_labels_move_the_estimate_toward_the_prior():
    means = [shrink(1.0, 0.85, 0.03, n_examples=n).mean for n in (3, 15, 150, 15000)]
    assert 0.85 < means[0] < means[1] < means[2] < means[3] < 1.0
    assert means[3] == pytest.approx(1.0, abs=0.01)


def test_posterior_is_the_precision_weighted_mean():
    var_v = validation_variance(0.8, n_examples=20)
    post = shrink(0.8, 0.7, math.sqrt(var_v), n_examples=20)  # equal variances: the midpoint
    assert post.mean == pytest.approx(0.75) and post.weight_prior == pytest.approx(0.5)
    assert post.std == pytest.approx(math.sqrt(var_v / 2)) and post.validation_std == pytest.approx(math.sqrt(var_v))


def test_validation_variance_takes_the_larger_of_binomial_and_fold_spread():
    binom = validation_variance(0.8, n_examples=30)
    spread = validation_variance(0.8, fold_scores=[0.5, 0.8, 1.0])
    assert spread > binom
    assert validation_variance(0.8, n_examples=30, fold_scores=[0.5, 0.8, 1.0]) == spread
    assert validation_variance(1.0, n_examples=3) > 0  # a perfect score on 3 labels is not certain


def test_bad_input():
    with pytest.raises(ConfigError, match="n_examples or two"):
        validation_variance(0.8, fold_scores=[0.8])
    with pytest.raises(ConfigError, match="n_examples must be"):
        validation_variance(0.8, n_examples=0)
    with pytest.raises(ConfigError, match="std > 0"):
        shrink(0.8, 0.7, 0.0, n_examples=10)
    with pytest.raises(ConfigError, match="finite"):
        shrink(float("nan"), 0.7, 0.1, n_examples=10)


def test_task_prior_std_pools_the_tasks_spread_with_the_across_task_error():
    """Trials close to their predictions narrow the prior on this task; far ones widen it; few trials
    leave it near the across-task error."""
    var = validation_variance(0.9, n_examples=50)
    close = [0.90, 0.91, 0.89, 0.90] * 10  # 40 trials within a point of their predictions
    preds = [0.90] * 40
    narrow = task_prior_std(close, preds, [var] * 40, 0.11)
    between = max(0.0, sum((v - p) ** 2 for v, p in zip(close, preds, strict=True)) / 40 - var)
    c = PRIOR_STD_PSEUDO_COUNT
    assert narrow == pytest.approx(math.sqrt((40 * between + c * 0.11 ** 2) / (40 + c)))
    assert narrow < 0.05  # the task's own spread dominates after 40 trials
    far = task_prior_std([0.5, 0.95, 0.6, 0.99] * 10, preds, [var] * 40, 0.11)
    assert far > 0.11  # the prior predicts this task badly: its std grows past the ranker's
    few = task_prior_std(close[:2], preds[:2], [var] * 2, 0.11)
    assert narrow < few < 0.11 and few == pytest.approx(0.11 * math.sqrt(c / (2 + c)), rel=0.05)
    assert task_prior_std([], [], [], 0.11) == 0.11
    assert task_prior_std(close, preds, [var] * 40, 0.11, pseudo_count=0.0) == max(MIN_PRIOR_STD, math.sqrt(between))
    with pytest.raises(ConfigError, match="scores"):
        task_prior_std([0.9], [0.9, 0.8], [var], 0.11)
    with pytest.raises(ConfigError, match="across-task std"):
        task_prior_std([0.9], [0.9], [var], 0.0)


def test_extra_variance_moves_the_estimate_toward_the_prior():
    var_v = validation_variance(0.8, n_examples=20)
    plain = shrink(0.8, 0.7, math.sqrt(var_v), n_examples=20)
    noisy = shrink(0.8, 0.7, math.sqrt(var_v), n_examples=20, extra_variance=var_v)  # twice the noise: 1/3 to v
    assert noisy.mean == pytest.approx(0.7 + 0.1 / 3) and noisy.mean < plain.mean
    assert noisy.validation_std == pytest.approx(math.sqrt(2 * var_v))
    with pytest.raises(ConfigError, match="extra_variance"):
        shrink(0.8, 0.7, 0.05, n_examples=20, extra_variance=-1.0)
