"""Whether one more trial is worth the final-fit time it takes: auto's cost-aware stop.

Under a time budget every trial's seconds come out of the winner's final fit, and a final fit cut
short loses part of its strategy's length gain (:mod:`warmstart.auto.final_fit`). On ``digits``
with one label per class and 2 minutes, auto's second trial (another recipe the prior ranked
close behind) changed nothing, since the validation score of ten labels cannot tell the two
apart, while the winner's final fit lost 30 of its 80 seconds: auto scored 0.895 against 0.921 for
the same recipe retrained right after the first trial (``benchmarks/results/auto``, revision 10).

Before each trial, with a prior that has length gains and a labelled validation score, the
search compares (one step ahead, as knowledge-gradient and cost-aware Bayesian optimization do;
Frazier, Powell & Dayanik, "A knowledge-gradient policy for sequential information collection",
SIAM J. Control Optim. 2008; Quick-Tune's cost-aware acquisition, Arango et al., ICLR 2024):

* **stopping now**: the expected score of the model auto would return, the final choice's pick
  (:func:`warmstart.auto.choice.choose`) with its final fit in all the time left;
* **one more trial, then stopping**: the same pick with the trial's seconds less for its final fit,
  or the new trial where its posterior mean ends higher. The new trial's posterior mean is not
  known before it runs: it is normal around its prior mean, with the preposterior std of
  :meth:`warmstart.knowledge.prior.Prior.candidate_score` — small where the validation score is
  too noisy to move the posterior. A queued recipe replaces the pick when it ends higher by one
  posterior std, or merely higher where the prior alone expects it above the pick (the one-SE rule of
  :func:`~warmstart.auto.choice.one_se_pick`, which lets the prior decide within one std; the other
  way round, a queued recipe the prior expects higher may take the pick's place while ending up to
  one std below it, a loss this one-step value leaves out); a configuration the search draws must
  end higher by one posterior std. Before it is drawn it can be any strategy of the joint
  space, so its value is the mean, over those strategies (each at its defaults, from the pick's source;
  NAS candidates left out, since their recipe needs an architecture), of keeping the pick unless that one
  ends higher by one std. Taking it to be the pick's own recipe instead, as TPE samples around the best
  trials, overrated it: over the 201 drawn trials of revisions 14 and 15 of ``benchmarks/results/auto``
  (both budgets), one ended above the best of the prior's picks by that margin, while the draws took up
  to 60% of a budget; on ``mnist5k-b-inverted`` at equal time, 4–5 draws after the three picks cut the
  winner's final fit to 1,530–1,670 of its 3,000 steps (0.958 against 0.969 for the same strategy in full).

A drawn configuration runs, moreover, only in the time the pick's final fit does not need (its full
length still fits after it): the value above treats a draw as some strategy at its defaults, while
the sampler's settings are mostly worse. Over the 232 trials drawn at equal time in revision 22
(``digits`` at 5 labels per class, rotated and inverted ``mnist5k-b`` at 10, 3 seeds each) none was
kept, while on ``mnist5k-b-inverted``, whose budget there is mcc's own full length, 1–7 draws
after the picks cut the final fit of mcc, the pick on every seed, to 1,523–2,116 of its 3,000
steps (0.9627 against 0.9667 for mcc alone).

The next trial runs only when its expected improvement is larger than what the time it takes
costs the pick's final fit. Without length gains, or before any trial completed, every trial that
fits runs, as before.

With a **label-free** score (no target label to validate on: information maximization on the pool,
:mod:`warmstart.validation`) the posterior above does not exist, and the score is a proxy that a
sampler tunes to rather than to accuracy (a larger adaptation weight sharpens predictions, which
raises information maximization whether they are right or not; the score's within-task correlation
with test accuracy is 0.40 over the meta-dataset's 26 label-free tasks). There the prior's queued
picks run, the label-free score chooses among them, and the search draws no configuration after
them: the time left goes to the winner's final fit. At equal time on ``digits`` without labels
(revision 11, ``benchmarks/results/auto/equal-time``) the search's 15 trials took half the budget
and left the winner, mcc, 1,600–1,800 of its 3,000 steps; its pick was the prior's first pick on
every seed. The picks after the first run only while they cost the winner's final fit nothing (its
full length still fits after them): on the meta-dataset's 30 label-free cells, keeping the best
label-free score among mcc, cdan and dann (the prior's usual picks there) instead of mcc alone changed
the pick in 3 cells and added 0.0009 test accuracy on average, while at equal time (revision 15) the
two picks after the first took 6–8 s of a 110 s budget, and auto ended 0.0019 below mcc fit alone.

**No search at all** (:func:`search_pays`): with one label per class the few-shot protocol is
leave-one-out, and each fold holds out the only label of its class, which the fold's fit then never
sees (:mod:`warmstart.validation`): a trial's score rests on at most 3 labels, each of a class its fit had no
label of. On the meta-dataset's 30 one-shot cells the prior's first three picks, kept by that score
shrunk toward the prior, gained 0.0003 over its first pick alone (regret 0.0061 against 0.0064,
``benchmarks/results/prior_quality``; 0.007–0.011 at 5 and 10 shots). Under a time budget every trial
comes out of the winner's final fit: on ``digits`` with one label per class at equal time (revision
12, ``benchmarks/results/auto/equal-time``) auto's one trial took 12 of its 153 s and the budget stopped
its final fit of mcc, the pick on every seed, at step 2,768 of 3,000. So there, with a prior, auto runs
no trial: the prior's first pick gets the whole budget (:func:`warmstart.auto.winner.from_first_pick`).

The same holds whenever the prior's second pick would cut the first one's final fit short: the first
trial alone cannot change the pick (its score has nothing to be compared with). **Without labels** the
picks after it run only while the final fit's full length still fits after them (above). **With
labels** a later pick replaces the first only where its expected score beats it by more than one
posterior std (:func:`~warmstart.auto.choice.one_se_pick`; the prior decides within one std), which a
few-shot score rarely shows: on the meta-dataset's labelled cells, the prior's first three picks kept by
that rule gained 0.0015 test accuracy over its first pick alone at the trials' length (regret 0.0144
against 0.0159, ``benchmarks/results/prior_quality``), and at full length the rule and the prior's
prediction alone both picked the best strategy of each of the length-gain benchmark's 7 image cells
(``benchmarks/results/trial_choice``), while at 2 minutes (revision 26, ``benchmarks/results/auto``)
the search's trials took 20–25 s of the 120 s from the final fit of its pick on ``digits`` at 5 labels
per class and on ``mnist5k-b`` at 10. Before any trial the two picks' seconds are the prior's cost
model's, and so is the first pick's full length (its trial's seconds times its work ratio). On
``digits`` without labels
auto ran one trial, of mcc, the prior's first pick, on every seed and kept it: at equal time
(revision 19, ``benchmarks/results/auto/equal-time``) auto ended 0.0019 below mcc fit alone, and at
2 minutes (revision 20) that trial took 8 s and left the final fit 1,963–2,120 of mcc's 3,000 steps.
With a budget roomy enough for both picks and the full length, the search runs as above.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from warmstart.auto.arch import NAS, split_params
from warmstart.auto.choice import (
    expected_scores,
    held_out_labels,
    held_out_unseen,
    observed_trials,
    one_se_pick,
    trial_fit_args,
    trial_recipe,
    trial_source,
)
from warmstart.auto.final_fit import final_fit, length_fraction
from warmstart.auto.prior_plan import PriorPlan
from warmstart.auto.search import fixed_params, is_queued
from warmstart.auto.trial_budget import trial_budget
from warmstart.knowledge.prior import FinalScore
from warmstart.tasks._task import Task, n_items
from warmstart.validation import trial_fits

#: the smallest expected improvement that runs a trial (below it the two values are equal up to rounding,
#: e.g. every trial validating at 1 and every expected score at the top)
TOLERANCE = 1e-6


@dataclass(frozen=True)
class Verdict:
    """Whether to run one more trial, and the numbers behind it.

    Attributes:
        run: Whether the next trial runs.
        stop_value: Expected score of auto's model if the search stops now (None: nothing was weighed).
        continue_value: Expected score after one more trial (None: nothing was weighed).
        note: One sentence for the notes (empty when the trial runs).
    """

    run: bool
    stop_value: float | None = None
    continue_value: float | None = None
    note: str = ""


def expected_max(base: float, mean: float, std: float, threshold: float) -> float:
    """E[min(1, X) if X > threshold else base] for X ~ N(mean, std²), ``threshold`` >= ``base``: the value of
    keeping an incumbent worth ``base`` unless a candidate ends above ``threshold`` (scores end at 1, every
    labelled metric's top). In closed form: with α = (t − mean)/std and β = (max(t, 1) − mean)/std,
    base·Φ(α) + mean·(Φ(β) − Φ(α)) + std·(φ(α) − φ(β)) + (1 − Φ(β))."""
    if std <= 0:
        return min(1.0, mean) if mean > threshold else base
    a = (threshold - mean) / std
    b = (max(threshold, 1.0) - mean) / std
    cdf_a, cdf_b = _cdf(a), _cdf(b)
    return base * cdf_a + mean * (cdf_b - cdf_a) + std * (_pdf(a) - _pdf(b)) + (1.0 - cdf_b)


def _cdf(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def _pdf(z: float) -> float:
    return math.exp(-z * z / 2.0) / math.sqrt(2.0 * math.pi)


def next_queued(study: optuna.Study) -> dict[str, Any] | None:
    """The configuration of the next queued trial (a prior pick or a past task's), or None."""
    waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    if not waiting:
        return None
    fixed = min(waiting, key=lambda t: t.number).system_attrs.get("fixed_params")
    return dict(fixed) if isinstance(fixed, dict) else None


def _pick(done: list[FrozenTrial], plan: PriorPlan, task: Task, n: int, overrides: dict[str, Any] | None,
          seconds_left: float) -> FinalScore:
    """The final choice's pick (posterior, length gains, one-SE rule) with its final fit in ``seconds_left``."""
    scores = expected_scores(done, plan, task, n, overrides=overrides, seconds_left=seconds_left)
    return one_se_pick(scores, [is_queued(done[f.index]) for f in scores])


def search_pays(plan: PriorPlan | None, task: Task, seed: int, *, seconds_left: float | None,
                overrides: dict[str, Any] | None = None) -> Verdict:
    """Whether auto searches at all, or fits the prior's first pick with the whole budget (module docstring).

    Args:
        plan: The prior's plan (None: no prior, the search runs).
        task: The target task (its few-shot cut).
        seed: Its seed (the validation protocol's).
        seconds_left: Seconds left of a time budget for the search and the final fit (None: a trial budget,
            under which a trial takes nothing from the final fit).
        overrides: The user's fixed parameters.
    """
    if plan is None or not plan.picks or seconds_left is None:
        return Verdict(True)
    pick = plan.picks[0]
    if held_out_unseen(task, seed):
        return Verdict(False, note=(
            f"no search: with one label per class each leave-one-out fold holds out the only label of its class, "
            f"so a trial's validation score cannot rank recipes, and its seconds would come out of the final fit; "
            f"the prior's first pick, {pick.spec.describe()}, is fitted with the whole budget"))
    labelled = held_out_labels(task, seed) is not None
    reach = _first_pick_reach(plan, task, seconds_left, overrides, trial_fits(task, seed))
    if reach is None or reach >= 1.0 - TOLERANCE:
        return Verdict(True)
    why = ("the scores are label-free, so the first trial alone cannot change the prior's first pick"
           if not labelled else
           "the first trial alone cannot change the prior's first pick, and a second replaces it only where its "
           "validation score beats it by more than one standard error (the final choice's rule)")
    return Verdict(False, note=(
        f"no search: {why}, and a second pick would cut its final fit to about {reach:.0%} of the way to its full "
        f"length (log scale of training work; trials predicted by the prior's cost model); "
        f"{pick.spec.describe()} is fitted with the whole budget"))


def _first_pick_reach(plan: PriorPlan, task: Task, seconds_left: float,
                      overrides: dict[str, Any] | None, folds: int = 1) -> float | None:
    """How far the first pick's final fit would go toward its full length after the trials of the first two picks
    (0 with a single pick: its one trial could change nothing; 1 when its final fit keeps its trials' length,
    which no trial can cut: a strategy whose trials already run at its full length, or a length the user fixed),
    each timed by the prior's cost model (a trial's seconds; one fit of the first pick, on every label, takes a
    ``folds``-th of them); None when the cost model has no seconds for them."""
    if len(plan.picks) < 2:
        return 0.0
    first, second = plan.picks[0].seconds, plan.picks[1].seconds
    if first is None or second is None:
        return None
    spec = plan.picks[0].spec
    trial = {**spec.params, **trial_budget(spec.strategy)}  # as its trial would run (the search fixes these)
    fit = first / max(1, folds)
    if final_fit(spec.strategy, trial, overrides, n_items(task.x_train), fit, None).length == "trial":
        return 1.0  # its final fit keeps its trials' length (its full length, or a length the user fixed) whatever
    return length_fraction(spec.strategy, trial, overrides, n_items(task.x_train), fit,
                           max(0.0, seconds_left - first - second))


def another_trial_pays(study: optuna.Study, plan: PriorPlan | None, task: Task, seed: int, *,
                       seconds_left: float | None, trial_seconds: float | None,
                       overrides: dict[str, Any] | None = None) -> Verdict:
    """Whether the next trial's expected improvement outweighs the final-fit time it takes (module docstring).

    Args:
        study: The search's study (its completed trials, and the queued ones still waiting).
        plan: The prior's plan (None: no prior, the trial runs).
        task: The target task (its few-shot cut).
        seed: Its seed (the validation protocol's).
        seconds_left: Seconds the final fit would have if the search stopped now (None: no time budget).
        trial_seconds: Expected wall seconds of the next trial (None: unknown, the trial runs).
        overrides: The user's fixed parameters.
    """
    if plan is None or seconds_left is None or trial_seconds is None:
        return Verdict(True)
    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.value is not None and math.isfinite(t.value)]
    if not done:
        return Verdict(True)
    n = held_out_labels(task, seed)
    if n is None:
        return _label_free(study, done, task, overrides, seconds_left, trial_seconds) if plan.configs else Verdict(True)
    if plan.prior.gains is None:
        return Verdict(True)
    after = max(0.0, seconds_left - trial_seconds)
    now = _pick(done, plan, task, n, overrides, seconds_left)
    stop_value = now.expected
    later = _pick(done, plan, task, n, overrides, after)
    incumbent = done[later.index]
    queued = next_queued(study)
    observed = observed_trials(done, plan)
    modality = plan.situation.get("modality")
    mod = modality if isinstance(modality, str) else None
    shots = int(plan.situation.get("shots") or 0)
    if queued is not None:
        strategy = str(queued.get("strategy"))
        params, arch = split_params(strategy, queued)
        recipe: dict[str, Any] = {"strategy": strategy, "params": params, "architecture": arch}
        source, what = str(queued.get("source", "")), f"the queued {strategy} trial"
        cand = plan.prior.candidate_score(observed, recipe, plan.situation, n_examples=n,
                                          source=plan.sources.get(source))
        fit, train = fit_seconds(plan, done, incumbent, [strategy], overrides)[strategy]
        fraction = _fraction_at(strategy, params, overrides, task, after, fit, train)
        gain = plan.prior.length_gain(strategy, shots, fraction, mod, cand.mean)
        # the final choice keeps the pick within one std unless the prior expects the new trial higher
        bar = later.posterior.std if min(1.0, cand.mean + gain) <= later.predicted_expected else 0.0
        continue_value = expected_max(later.expected, min(1.0, cand.mean + gain), cand.std, later.expected + bar)
    else:
        cut = _cut_short(done[now.index], overrides, task, seconds_left, trial_seconds)
        if cut is not None:
            return Verdict(False, note=(
                f"the search stopped: another drawn configuration (about {trial_seconds:.0f} s) would cut the "
                f"final fit of {cut[0]} from {cut[1]:.0%} to {cut[2]:.0%} of the way to its full length (log scale "
                "of training work), and drawn configurations have rarely overturned the prior's picks"))
        continue_value = _drawn_value(plan, observed, done, incumbent, later, n, overrides, task, after)
        what = "another drawn configuration"
    if continue_value > stop_value + TOLERANCE:
        return Verdict(True, stop_value, continue_value)
    note = (f"the search stopped after {len(done)} completed trial(s): {what} (about {trial_seconds:.0f} s) was "
            f"expected to add {continue_value - later.expected:+.4f} to the chosen model, less than the "
            f"{stop_value - later.expected:.4f} its seconds would take from the winner's final fit")
    return Verdict(False, stop_value, continue_value, note)


def _cut_short(pick: FrozenTrial, overrides: dict[str, Any] | None, task: Task, seconds_left: float,
               trial_seconds: float) -> tuple[str, float, float] | None:
    """(strategy, fraction now, fraction after) when a trial of ``trial_seconds`` would cut ``pick``'s final fit
    short of how far it goes now toward its full length, else None (the trial runs in time the fit does not
    need)."""
    recipe = trial_recipe(pick)
    strategy, params = str(recipe["strategy"]), dict(recipe.get("params") or {})
    now = _fraction(pick, strategy, params, overrides, task, seconds_left)
    after = _fraction(pick, strategy, params, overrides, task, max(0.0, seconds_left - trial_seconds))
    return None if after >= now - TOLERANCE else (strategy, now, after)


def _drawn_value(plan: PriorPlan, observed: list[Any], done: list[FrozenTrial], incumbent: FrozenTrial,
                 later: FinalScore, n: int, overrides: dict[str, Any] | None, task: Task, after: float) -> float:
    """The expected score of auto's model after one configuration the sampler draws (module docstring): the
    mean, over the strategies it can draw, of keeping the pick unless that strategy at its defaults, from the
    pick's source, ends above the pick by one posterior std (the one-SE rule). Each strategy's final fit is
    timed with its own seconds (:func:`fit_seconds`)."""
    source = trial_source(incumbent)
    strategies = [s for s in plan.strategies if s != NAS] or [str(trial_recipe(incumbent)["strategy"])]
    recipes: list[dict[str, Any]] = [{"strategy": s, "params": {}, "architecture": None} for s in strategies]
    cands = plan.prior.candidate_scores(observed, [(r, plan.sources.get(source)) for r in recipes], plan.situation,
                                        n_examples=n)
    modality = plan.situation.get("modality")
    shots = int(plan.situation.get("shots") or 0)
    threshold = later.expected + later.posterior.std
    seconds = fit_seconds(plan, done, incumbent, strategies, overrides)
    values = []
    for s, cand in zip(strategies, cands, strict=True):
        fraction = _fraction_at(s, {}, overrides, task, after, *seconds[s])
        gain = plan.prior.length_gain(s, shots, fraction, modality if isinstance(modality, str) else None, cand.mean)
        values.append(expected_max(later.expected, min(1.0, cand.mean + gain), cand.std, threshold))
    return sum(values) / len(values)


def _label_free(study: optuna.Study, done: list[FrozenTrial], task: Task, overrides: dict[str, Any] | None,
                seconds_left: float, trial_seconds: float) -> Verdict:
    """With a label-free score the prior's queued picks run while they cost the winner's final fit nothing, then
    the search stops (module docstring)."""
    if next_queued(study) is None:
        return Verdict(False, note=(
            f"the search stopped after {len(done)} completed trial(s), once the prior's picks had run: its scores "
            "are label-free, so a configuration it drew would be tuned to that proxy rather than to accuracy, and "
            "its seconds go to the winner's final fit instead"))
    cut = _cut_short(study.best_trial, overrides, task, seconds_left, trial_seconds)  # the label-free choice
    if cut is None:
        return Verdict(True)
    strategy, now, after = cut
    return Verdict(False, note=(
        f"the search stopped after {len(done)} completed trial(s): its scores are label-free, which rarely change "
        f"the prior's pick, and the next queued pick (about {trial_seconds:.0f} s) would cut the final fit of "
        f"{strategy} from {now:.0%} to {after:.0%} of the way to its full length (log scale of training work)"))


def _fraction(like: FrozenTrial, strategy: str, params: dict[str, Any], overrides: dict[str, Any] | None,
              task: Task, seconds_left: float) -> float:
    """How far the final fit of ``like``'s recipe would go in ``seconds_left``, timed by ``like``'s own fit."""
    _, _, fit, train = trial_fit_args(like, overrides)
    return _fraction_at(strategy, params, overrides, task, seconds_left, fit, train)


def _fraction_at(strategy: str, params: dict[str, Any], overrides: dict[str, Any] | None, task: Task,
                 seconds_left: float, fit: float | None, train: float | None) -> float:
    """How far a recipe's final fit would go in ``seconds_left``, one fit at its trial budget taking ``fit``
    seconds (``train`` of them in training steps)."""
    full = {**params, **fixed_params(strategy, overrides)}
    return length_fraction(strategy, full, overrides, n_items(task.x_train), fit, seconds_left, train)


def fit_seconds(plan: PriorPlan, done: list[FrozenTrial], incumbent: FrozenTrial, strategies: list[str],
                overrides: dict[str, Any] | None) -> dict[str, tuple[float | None, float | None]]:
    """(fit, training) seconds of one fit at the trial budget of each strategy, on every label.

    A strategy's own, measured in its latest completed trial; for one that has not run, the incumbent's
    scaled by the ratio of the two strategies' trial seconds that the prior's cost model predicts for this
    situation; without a cost model, the incumbent's. Timing every candidate by the incumbent's fit had
    valued a slow strategy's final fit as if it were as fast: with llrd (about 2.4 s a fit) the incumbent
    on rotated MNIST at 2 minutes, the search kept drawing adaptation trials (5–8 s a fit at 50 steps, and
    their full length 60 times that work) whose final fits could not fit, for 101 of the 120 s
    (``benchmarks/results/auto``, revision 20, seed 2).
    """
    _, _, fit, train = trial_fit_args(incumbent, overrides)
    latest: dict[str, FrozenTrial] = {}
    for t in done:  # in the order they completed: the latest wins
        if t.user_attrs.get("fit_seconds") is not None:
            latest[str(t.params.get("strategy"))] = t
    missing = [s for s in strategies if s not in latest]
    ratios = _cost_ratios(plan, incumbent, missing) if missing and fit is not None else {}
    out: dict[str, tuple[float | None, float | None]] = {}
    for s in strategies:
        if s in latest:
            _, _, own_fit, own_train = trial_fit_args(latest[s], overrides)
            out[s] = (own_fit, own_train)
        elif s in ratios and fit is not None:
            out[s] = (fit * ratios[s], None if train is None else train * ratios[s])
        else:
            out[s] = (fit, train)
    return out


def _cost_ratios(plan: PriorPlan, incumbent: FrozenTrial, strategies: list[str]) -> dict[str, float]:
    """Each strategy's predicted trial seconds over the incumbent's strategy's (the prior's cost model, at the
    trial budgets, in this situation); empty without a cost model."""
    from warmstart.knowledge._prior_features import split_situation
    from warmstart.knowledge._prior_table import RecipeSpec

    if not strategies:
        return {}
    meta, shots, tf = split_situation(plan.situation)
    first = str(trial_recipe(incumbent)["strategy"])
    specs = [RecipeSpec(s, trial_budget(s)) for s in (first, *strategies)]
    _, secs = plan.prior.ranker.predict(meta, shots, tf, specs)
    if secs is None or not (math.isfinite(float(secs[0])) and float(secs[0]) > 0):
        return {}
    return {s: float(v) / float(secs[0]) for s, v in zip(strategies, secs[1:], strict=True)
            if math.isfinite(float(v)) and float(v) > 0}
