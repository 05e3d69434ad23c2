"""auto's final choice: the one-standard-error rule over the posterior means (warmstart/auto/choice.py)."""

from __future__ import annotations

from warmstart.auto.choice import one_se_pick
from warmstart.knowledge._prior_types import FinalScore
from warmstart.knowledge._shrinkage import Posterior


def _score(index: int, mean: float, std: float = 0.03) -> FinalScore:
    return FinalScore(index, mean, mean, Posterior(mean, std, 0.5, std))


def test_a_drawn_configuration_within_one_se_does_not_displace_a_queued_recipe() -> None:
    scores = [_score(0, 0.922), _score(1, 0.906), _score(2, 0.90)]  # best first
    assert one_se_pick(scores, [False, True, True]).index == 1  # 0.906 >= 0.922 - 0.03: the best queued one


def test_a_drawn_configuration_beyond_one_se_wins() -> None:
    scores = [_score(0, 0.95), _score(1, 0.90)]
    assert one_se_pick(scores, [False, True]).index == 0  # 0.90 < 0.95 - 0.03


def test_the_best_wins_when_it_is_queued_or_nothing_is() -> None:
    scores = [_score(0, 0.93), _score(1, 0.92)]
    assert one_se_pick(scores, [True, True]).index == 0
    assert one_se_pick(scores, [False, False]).index == 0


def test_within_one_se_the_prior_decides_among_queued_recipes() -> None:
    """Trials are scored at the trial budget; within one standard error the validation cannot tell recipes apart,
    so the one the prior alone expects highest at the length auto returns (prediction + its gain) wins."""
    cdan = FinalScore(0, 0.95, 0.917, Posterior(0.931, 0.032, 0.58, 0.036), gain=0.045, predicted_gain=0.052)
    mcc = FinalScore(1, 0.933, 0.918, Posterior(0.922, 0.036, 0.71, 0.036), gain=0.053, predicted_gain=0.055)
    assert cdan.expected > mcc.expected and mcc.predicted_expected > cdan.predicted_expected
    assert one_se_pick([cdan, mcc], [True, True]) is mcc
    assert one_se_pick([cdan, mcc], [False, True]) is mcc  # a drawn best, as before
    far = FinalScore(1, 0.85, 0.918, Posterior(0.86, 0.03, 0.6, 0.036), gain=0.05, predicted_gain=0.055)
    assert one_se_pick([cdan, far], [True, True]) is cdan  # 0.91 < 0.976 - 0.032: the validation decides


def test_the_selection_says_when_the_rule_changed_the_pick() -> None:
    from types import SimpleNamespace

    from warmstart.auto.choice import Choice, selection

    rows = [{"number": 0, "state": "COMPLETE", "value": 0.93}, {"number": 1, "state": "COMPLETE", "value": 0.91}]
    rule = "one-standard-error rule: the queued recipe of trial 1 (posterior 0.906) kept over trial 0"
    out = selection(rows, "3-fold CV", Choice(SimpleNamespace(number=1), "posterior", rule=rule))  # type: ignore[arg-type]
    assert out["rule"] == rule and rule in out["text"] and out["by"] == "posterior"


def test_length_gains_choose_the_model_auto_would_return_in_the_time_left() -> None:
    """l2sp has the better trial score; finetune gains 10 points from its full length: with the time for that
    final fit finetune wins, with no time for a longer fit l2sp does."""
    import json
    import random

    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution
    from optuna.trial import create_trial

    from warmstart.auto.choice import choose, incumbent_final_fit
    from warmstart.auto.prior_plan import PriorPlan
    from warmstart.knowledge.prior import fit_prior
    from warmstart.tasks import get_task

    rng = random.Random(0)
    rows = [{"task": f"t{t}@5shots", "shots": 5, "strategy": s, "seed": 0, "params": json.dumps({"lr": 1e-3}),
             "score": acc + rng.gauss(0, 0.005), "metric": "val_accuracy", "seconds": 10.0,
             "mf_log_n_classes": rng.uniform(1.5, 2.5)}
            for t in range(4) for s, acc in (("l2sp", 0.90), ("finetune", 0.88))]
    gains = [{"task": f"g{t}", "shots": 5, "seed": 0, "source_task": "s", "strategy": "finetune", "fidelity": f,
              "test_accuracy": a} for t in range(2) for f, a in (("trial", 0.8), ("full", 0.9))]
    prior = fit_prior(rows, gain_rows=gains)
    study = optuna.create_study(direction="maximize")
    for strategy, value in (("l2sp", 0.90), ("finetune", 0.88)):
        study.add_trial(create_trial(
            params={"source": "src", "strategy": strategy, f"{strategy}.lr": 1e-3}, value=value,
            distributions={"source": CategoricalDistribution(["src"]),
                           "strategy": CategoricalDistribution(["l2sp", "finetune"]),
                           f"{strategy}.lr": FloatDistribution(1e-5, 1e-1, log=True)},
            user_attrs={"fit_seconds": 2.0, "fold_scores": [value] * 3}))
    task = get_task("digits").few_shot(5, seed=0)
    plan = PriorPlan(prior, {"mf_log_n_classes": 2.0, "shots": 5}, {"src": {}}, ["l2sp", "finetune"], None)
    roomy = choose(study, plan, task, seconds_left=None)  # no time budget: every final fit at full length
    tight = choose(study, plan, task, seconds_left=2.0)  # only a trial's length fits
    assert roomy.trial.params["strategy"] == "finetune" and tight.trial.params["strategy"] == "l2sp"
    gained = {roomy.trial.number: roomy.scores[roomy.trial.number].gain}
    assert gained[roomy.trial.number] > 0.05 and all(f.gain == 0.0 for f in tight.scores.values())
    fixed = choose(study, plan, task, overrides={"epochs": 3})  # a length the user fixed: nothing to gain
    assert fixed.trial.params["strategy"] == "l2sp"
    # the search keeps time for the final fit of the trial the choice picks (finetune), not for the best
    # validation score (l2sp, whose shorter final fit would leave finetune's cut short)
    kept = incumbent_final_fit(study, plan, task)
    assert kept is not None and study.best_trial.params["strategy"] == "l2sp"
    assert kept[0].number == roomy.trial.number and kept[1].length == "full"
    assert kept[1].predicted_seconds is not None and kept[1].predicted_seconds > 2.0
    assert incumbent_final_fit(study, None, task)[0].number == study.best_trial.number  # type: ignore[index]
    # with only a trial's length of time to keep, the final choice would pass finetune over: no time is kept for it
    short = incumbent_final_fit(study, plan, task, seconds_left=2.0)
    assert short is not None and short[0].number == tight.trial.number


def test_an_expected_score_is_capped_at_one_and_the_less_extrapolated_wins_a_tie() -> None:
    """breast_cancer: mcc's trial scored 1.0, gradual unfreezing 0.978 + a gain of 0.15. No accuracy exceeds 1:
    both expect 1.0, and the one whose 1.0 was measured rather than extrapolated ranks first."""
    measured = FinalScore(0, 1.0, 1.0, Posterior(1.0, 0.02, 0.5, 0.02), gain=0.07)
    lifted = FinalScore(1, 1.0, 0.94, Posterior(0.978, 0.02, 0.5, 0.02), gain=0.15)
    assert measured.expected == lifted.expected == 1.0
    assert measured.to_json()["gain"] == 0.07  # the gain itself is reported as predicted
