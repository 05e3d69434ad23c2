"""auto's final choice by the source's held-out labels, where source and target are one distribution.

With a handful of target labels no validation on the target separates recipes one or two test examples apart
(a 3-fold CV on 10 labels scores most recipes 1.0). A source that brings its task's data brings more labels: its
validation and test splits, on which no strategy trains (the strategies that use source data train on its train
split; the source checkpoint chose its epoch on the validation split, the same for every candidate, and an
adaptation recipe with ``select_by`` other than its default ``last`` reads it to choose its epoch). Where a
classifier two-sample test finds no shift between the source's inputs and the target's
(:mod:`warmstart.auto.shift_test`), those labelled examples are a sample of the target's distribution too, and
they validate models of the target: importance-weighted validation under covariate shift (Sugiyama et al.,
"Covariate Shift Adaptation by Importance Weighted Cross Validation", JMLR 2007; You et al., "Towards Accurate
Model Selection in Deep Unsupervised Domain Adaptation", ICML 2019) with weights of one.

When that holds on a table, under a time budget and with a prior, this phase replaces the search: auto fits
candidates on every label, each at its trials' length and at its strategy's full length, the prior's first pick
first and then each other strategy in the prior's order, while the next fit is predicted to end in the time left
(the first candidate's fits time the rest: the phase runs on only where :data:`MIN_CANDIDATES` fit). It scores every
fit on the source's held-out examples and returns the ensemble (the average of the class probabilities,
:class:`~warmstart.backbones.ensemble.Ensemble`) of the :data:`~warmstart.auto.soup.SOUP_SIZE` fits with the lowest
log-loss there among those sharing the best one's architecture (:func:`~warmstart.auto.soup.nll_ensemble`; ties: the
earlier candidate, its full length first). No retraining follows: the ensemble is auto's model. Where too few
candidates fit, auto fits the prior's first pick as it would without a search.

Measured on the meta-dataset's tabular families other than ``breast_cancer`` (the auto benchmark's tabular
situation) and on three spam7-like tables that no prior learns from (``hmda``, ``cells``, ``churn``: 200–500 test
examples a cell); ``benchmarks/results/tabular_ensemble_probe``, 18 cells at 1 and 5 labels per class, 3 seeds,
each target's rows in its source table's standardization (:meth:`warmstart.tasks.Task.in_scale`). The soup matches
the best single strategy picked in hindsight per cell (mean ≥ 0, 95% CI lower bound ≥ −0.01) in 9 of 18 cells,
0.0082 below it on average; the prior's own pick matches 5 (0.0252 below), the single fit with the best held-out
accuracy 7 (0.0037 below). Refitting the soup's recipes on the target's labels and the held-out ones together (the
"refit on train and validation" of AutoGluon's ``refit_full``) is 0.0006 above on average and higher than the soup
on 22 of 54 cuts, lower on 6, but matches only 6 cells (its differences vary more across seeds); auto refitted at
its revision 39, and both tabular situations of the auto benchmark fell (breast_cancer-b −0.0105, was +0.0000;
spam7-b −0.0039, was −0.0035), so it does not. A soup that also fits each of the five at two more training seeds
matches 7 cells; another soup size (K = 3, 4, 7, 10) 7, 7, 7, 4. The average of the five fits' class probabilities
(the probe's ``source NLL top-5``, whose members differ from auto's in one of 270: a scratch fit in its own
table's standardization; auto's since its revision 41, when the soup of revisions 37–40 gave way to it)
matches 9 cells too, 0.0061 below on average, and paired with the soup it is higher on 14 of 54 cuts and lower on 3
(7 cells higher, 1 lower, +0.0021): equal on the count of matched cells, better on the cuts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import torch

from warmstart.auto.clock import Clock
from warmstart.auto.final_fit import final_fit, trial_fit_seconds
from warmstart.auto.prior_plan import PriorPlan
from warmstart.auto.shift_test import ShiftTest, shift_test
from warmstart.auto.soup import held_out_scores, nll_ensemble, with_model
from warmstart.auto.sources import RankedSource
from warmstart.auto.winner import Winner, from_config
from warmstart.errors import WarmstartError
from warmstart.tasks._scaler import convert
from warmstart.tasks._task import Task, concat, n_items

#: the fewest candidates the phase must fit (at both lengths) to choose; the first one's seconds time the others
MIN_CANDIDATES = 2
#: the only modality the phase is measured on (benchmarks/results/tabular_ensemble_probe)
MODALITY = "tabular"


@dataclass
class SourceFit:
    """One candidate fit on every label, scored on the source's held-out examples.

    Attributes:
        winner: The candidate (strategy, parameters at the trials' length, source).
        length: ``trial`` or ``full``.
        params: The parameters it ran with.
        accuracy: Its accuracy on the source's held-out examples.
        nll: Its mean log-loss on them.
        seconds: Wall seconds of the fit.
        test_accuracy: Its accuracy on the target's test split (reporting only).
        result: The run's :class:`~warmstart.recipe.Result` (its fitted strategy kept).
        stopped: Whether the budget's deadline stopped the fit (it is then not a candidate).
        work_ratio: Its training work over a trial fit's (1.0 at the trials' length).
    """

    winner: Winner
    length: str
    params: dict[str, Any]
    accuracy: float
    nll: float
    seconds: float
    test_accuracy: float | None
    result: Any = field(repr=False)
    stopped: bool = False
    work_ratio: float = 1.0

    def to_json(self) -> dict[str, Any]:
        """Plain dict (without the fitted model)."""
        return {"strategy": self.winner.strategy, "source": self.winner.source.name, "length": self.length,
                "params": self.params, "work_ratio": round(self.work_ratio, 2),
                "source_accuracy": round(self.accuracy, 4), "source_nll": round(self.nll, 4),
                "seconds": round(self.seconds, 3),
                "test_accuracy": self.test_accuracy}


@dataclass
class SourceChoice:
    """The phase's outcome: the test, every fit, and the chosen one.

    Attributes:
        test: The two-sample test of the source's held-out inputs against the target's.
        n_held_out: The source's held-out labelled examples.
        fits: Every fit, in the order they ran.
        members: Indices in ``fits`` of the ensemble's fits (their class probabilities averaged), the lowest held-out
            log-loss first.
        result: The model auto returns: the first member's run, its strategy's model the ensemble (its ``test``
            unset: the ensemble is evaluated where auto reports).
        accuracy: The ensemble's accuracy on the source's held-out examples.
        nll: Its mean log-loss on them.
        notes: What happened, in words (for the run's notes).
    """

    test: ShiftTest
    n_held_out: int
    fits: list[SourceFit]
    members: list[int]
    result: Any = field(repr=False)
    accuracy: float
    nll: float
    notes: list[str] = field(default_factory=list)

    @property
    def chosen(self) -> int:
        """Index of the ensemble's first member (the lowest held-out log-loss) in ``fits``."""
        return self.members[0]

    @property
    def fit(self) -> SourceFit:
        """The ensemble's first member: its strategy, source and length name auto's model."""
        return self.fits[self.chosen]

    def to_json(self) -> dict[str, Any]:
        """``result["source_validation"]``."""
        return {"test": self.test.to_json(), "held_out": self.n_held_out, "chosen": self.chosen,
                "ensemble": {"fits": list(self.members), "source_accuracy": round(self.accuracy, 4),
                             "source_nll": round(self.nll, 4)},
                "fits": [f.to_json() for f in self.fits]}

    def names(self) -> str:
        """The ensemble's fits, ``strategy (length)``, the lowest held-out log-loss first."""
        return ", ".join(f"{self.fits[i].winner.strategy} ({self.fits[i].length})" for i in self.members)

    def describe(self) -> str:
        """The ensemble in words: its fits and its held-out scores."""
        names = self.names()
        what = (f"the average of the class probabilities of the {len(self.members)} fits" if len(self.members) > 1
                else "the fit (no other shares its architecture)")
        return (f"{what} with the lowest log-loss on the source's {self.n_held_out} held-out labelled examples, "
                f"{names}: accuracy {self.accuracy:.4f}, log-loss {self.nll:.4f} on them")

    def selection(self, protocol: str) -> dict[str, Any]:
        """``result["selection"]`` of a run whose model this phase chose (``protocol``: the validation a search's
        trials would have had)."""
        text = (f"{self.describe()}, among {len(self.fits)} fits on every label; source and target inputs showed no "
                f"shift ({self.test.describe()}); no search ran")
        return {"completed": len(self.fits), "pruned": 0, "stopped_by_budget": 0, "failed": 0, "protocol": protocol,
                "text": text, "by": "source"}


def held_out(source: RankedSource, target: Task) -> tuple[Any, torch.Tensor] | None:
    """The held-out split (:func:`source_split`) of a ranked source's task; None when the source brings no task data
    or :func:`source_split` has none."""
    if source.source.task_name is None:
        return None
    try:
        src = source.source.task()
    except WarmstartError:
        return None
    return source_split(src, target)


def source_split(src: Task, target: Task) -> tuple[Any, torch.Tensor] | None:
    """A source task's validation and test examples (in ``target``'s input format and standardization), labels as
    indices into ``target``'s classes; None when its classes are not the target's or it has no held-out split."""
    from warmstart.strategies._adaptation_data import match_inputs

    if sorted(src.classes) != sorted(target.classes):
        return None
    parts = [(x, y) for x, y in ((src.x_val, src.y_val), (src.x_test, src.y_test)) if x is not None and y is not None]
    if not parts:
        return None
    remap = torch.tensor([target.classes.index(c) for c in src.classes])
    x = parts[0][0] if len(parts) == 1 else concat(parts[0][0], parts[1][0])
    x, _ = match_inputs(convert(x, src.scaler, target.scaler), target)
    return x, remap[torch.cat([y for _, y in parts])]


def _target_inputs(target: Task) -> Any:
    return concat(target.x_unlabeled, target.x_train) if target.has_unlabeled else target.x_train


def candidates(plan: PriorPlan, win: Winner, sources: list[RankedSource],
               overrides: dict[str, Any] | None) -> list[Winner]:
    """``win`` (the prior's first pick), then the first recipe of each other strategy in the prior's order (no NAS
    candidate)."""
    out = [win]
    for config in plan.order:
        w = from_config(config, sources, overrides)
        if w.architecture is None and all(w.strategy != o.strategy for o in out):
            out.append(w)
    return out


@dataclass(frozen=True)
class SourceCheck:
    """Why the source's held-out labels may choose auto's model: they exist, and the test found no shift.

    Attributes:
        x: The source's held-out inputs (the target's input format).
        y: Their labels, as indices into the target's classes.
        test: The two-sample test of those inputs against the target's.
    """

    x: Any
    y: torch.Tensor
    test: ShiftTest


def source_check(target: Task, plan: PriorPlan | None, sources: list[RankedSource], clock: Clock,
                 *, seed: int) -> tuple[SourceCheck | None, str | None]:
    """Whether the phase replaces the search (module docstring), before it would start.

    Returns:
        (the check, None) when it does; else (None, why not), the reason None when the run's other notes already
        say it (no prior, no time budget, not a table, no source with held-out labels of the target's classes).
    """
    if plan is None or not plan.picks or clock.end is None or target.modality != MODALITY:
        return None, None
    data = next((d for d in (held_out(s, target) for s in sources) if d is not None), None)
    if data is None:
        return None, None
    test = shift_test(data[0], _target_inputs(target), seed=seed)
    if test is None:
        return None, None
    if test.shifted:
        return None, f"the source's held-out labels were not used to choose: {test.describe()}"
    return SourceCheck(data[0], data[1], test), None


def choose_by_source(target: Task, plan: PriorPlan, check: SourceCheck, win: Winner, sources: list[RankedSource],
                     overrides: dict[str, Any] | None, clock: Clock, *, seed: int, device: str,
                     progress: bool) -> tuple[SourceChoice | None, str | None]:
    """Run the phase (module docstring): ``win`` is the prior's first pick, the first candidate.

    Returns:
        (the choice, None), or (None, why it stopped: the time left does not fit :data:`MIN_CANDIDATES` candidates
        at both lengths, timed by the first candidate's fit), after which auto fits the first pick as it would
        without the phase.
    """
    fits = _fit_all(target, candidates(plan, win, sources, overrides), (check.x, check.y), clock, overrides,
                    seed=seed, device=device, progress=progress)
    if len({id(f.winner) for f in fits}) < MIN_CANDIDATES:
        return None, (f"the source's held-out labels did not choose: fewer than {MIN_CANDIDATES} candidates fit on "
                      f"every label at both lengths in the time left ({len(fits)} fit(s) ran)")
    ranked = sorted(range(len(fits)), key=lambda i: _rank(fits, i))  # the tie-break order
    kept, model = nll_ensemble([fits[i].result.strategy.model_ for i in ranked], [fits[i].nll for i in ranked])
    members = [ranked[i] for i in kept]
    first = fits[members[0]]
    result = with_model(first.result, model) if len(members) > 1 else first.result
    acc, nll = (_scores(result.strategy, target, check.x, check.y) if len(members) > 1 else
                (first.accuracy, first.nll))
    choice = SourceChoice(check.test, int(check.y.numel()), fits, members, result, acc, nll)
    choice.notes.append(f"no search: the source's held-out labelled examples chose the model "
                        f"({check.test.describe()}): {len(fits)} fits of {len({f.winner.strategy for f in fits})} "
                        f"strategies on every label, at their trials' and full lengths, in the prior's order; auto's "
                        f"model is {choice.describe()}")
    return choice, None


def _rank(fits: list[SourceFit], i: int) -> tuple[int, int]:
    """Tie-break order of fit ``i``: its candidate's place, then full length before the trials'."""
    order = list(dict.fromkeys(id(f.winner) for f in fits))
    return order.index(id(fits[i].winner)), 0 if fits[i].length == "full" else 1


def _scores(strategy: Any, target: Task, x: Any, y: torch.Tensor) -> tuple[float, float]:
    """(accuracy, mean log-loss) of a fitted strategy on labelled examples in ``target``'s input format."""
    return held_out_scores(strategy.predict_proba(strategy.task_inputs(target, x)), y)


def _fit_all(target: Task, cands: list[Winner], data: tuple[Any, torch.Tensor], clock: Clock,
             overrides: dict[str, Any] | None, *, seed: int, device: str, progress: bool) -> list[SourceFit]:
    """Fit the candidates at both lengths while the next fit is predicted to end in the time left; after the first
    candidate, only when the time left fits :data:`MIN_CANDIDATES` - 1 more like it (else what ran is returned)."""
    fits: list[SourceFit] = []
    n_labelled = n_items(target.x_train)
    last = 0.0
    for i, w in enumerate(cands):
        if last > (clock.left() or 0.0):
            break
        trial = _fit(target, w, w.params, "trial", data, clock, seed=seed, device=device, progress=progress)
        if trial is None:
            continue
        if trial.stopped:
            break
        fits.append(trial)
        last = trial.seconds
        # the full length's seconds from the fit's training steps (its setup, loading the source, does not scale)
        fit_s, train_s = trial_fit_seconds(trial.result, w.strategy, w.params, n_labelled)
        plan = final_fit(w.strategy, w.params, overrides, n_labelled, fit_s, clock.left(), None, train_s)
        if i == 0 and (MIN_CANDIDATES - 1) * (trial.seconds + (plan.predicted_seconds or 0.0)) > (
                (clock.left() or 0.0) - (plan.predicted_seconds or 0.0)):
            break  # the first candidate's own fits leave no room for another: the phase would choose nothing
        if plan.length != "full":
            continue
        full = _fit(target, w, plan.params, "full", data, clock, seed=seed, device=device, progress=progress)
        if full is not None and full.stopped:
            break
        if full is not None:
            full.work_ratio = plan.work_ratio
            fits.append(full)
    return fits


def _fit(target: Task, w: Winner, params: dict[str, Any], length: str, data: tuple[Any, torch.Tensor],
         clock: Clock, *, seed: int, device: str, progress: bool) -> SourceFit | None:
    """One fit on every label, scored on the held-out examples; None when the recipe cannot run on the task.
    A fit the budget's deadline stopped is returned with ``stopped`` set (the caller drops it)."""
    from warmstart.engine.callbacks import extra_callbacks
    from warmstart.recipe import run_recipe
    from warmstart.search.budget import DeadlineStop

    recipe = w.recipe(params, seed)
    end = clock.retrain_deadline()
    stop = DeadlineStop(end, "the budget", whole_epochs=False) if end is not None else None
    t0 = time.perf_counter()
    try:
        with extra_callbacks(*[c for c in (stop,) if c is not None]):
            res = run_recipe(target, recipe, validation="none", source=w.source.source, device=device,
                             progress=progress)
    except WarmstartError:
        return None
    seconds = time.perf_counter() - t0
    if stop is not None and stop.stopped_after is not None:
        return SourceFit(w, length, dict(params), 0.0, float("inf"), seconds, None, None, stopped=True)
    acc, nll = _scores(res.strategy, target, data[0], data[1])
    test = (res.test or {}).get("accuracy")
    return SourceFit(w, length, dict(params), acc, nll, seconds, None if test is None else float(test), res)
