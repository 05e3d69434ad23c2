"""Which finished runs of the auto benchmark are current: the auto arms' revisions and the run log.

Every finished run is one line of ``runs.jsonl`` (:class:`RunLog`), written as soon as it ends, so
a stopped benchmark continues where it was when started again with the same ``--out``. A recipe run (single
strategy, first trial) records its strategy's :data:`benchmarks._meta_portfolio.REVISION`, as the
meta-dataset's runs do: a run of an older revision is stale, so it is read as not done and run again
(its line stays in the file; the newer line wins). The auto arms' runs record their revision
(:data:`ARM_REVISION`) the same way; a revision that changed only some situations (:data:`SCOPED`,
:data:`SCOPED_SITUATIONS`) leaves the others' runs current.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks._auto_report import HERE
from benchmarks._auto_situations import SITUATIONS

#: the auto arms' revision (runs of an older one are stale and run again): 2 since auto retrains its winner
#: at its strategy's full length (``warmstart/auto/final_fit.py``) and the adaptation strategies' defaults changed;
#: 3 since the prior's picks count only the share of a length gain that a time budget's final fit reaches
#: (``prior_plan.final_reach``) and a strategy's length gain is shrunk toward every strategy's (``_gains``);
#: 4 since only the length gains of the task's modality count and an expected score is capped at 1
#: (``_gains.LengthGains.gain(modality=)``, ``FinalScore.expected``); 5 since the winner keeps its trials'
#: length where its strategy's length gain is negative (``final_fit(gain=)``), and a negative gain counts as none;
#: 6 since a final fit's seconds are predicted from the trial's training seconds plus its fixed part
#: (``final_fit.predicted_seconds``), not from its whole fit scaled; 7 since a fold's step time is scaled to every
#: label by the ratio of training work, not k/(k-1) (the adaptation loop's steps do not grow with the labels);
#: 8 since a length gain is the share of a trial's error its full length removes, applied from the trial's own
#: score (``_gains.LengthGains.log_kept``), not a difference of scores capped at 1; 9 since the final choice
#: shrinks toward the prior with its error on the task, estimated from the trials' spread around its predictions
#: (``_shrinkage.task_prior_std``), not with the ranker's error over every training task alone; 10 since the
#: search keeps time for the final fit of the trial the final choice would pick (``choice.incumbent_final_fit``),
#: not of the best validation score plus length gain; 11 since a trial starts only when it is expected to add more
#: than its seconds take from that final fit (``cost_stop.another_trial_pays``); 12 since a search scored without
#: labels stops once the prior's picks have run, and the final fit trains up to the deadline instead of leaving
#: an epoch that may not finish unstarted (``DeadlineStop(whole_epochs=False)``); 13 since, under a time budget with
#: one label per class, auto runs no trial and fits the prior's first pick with the whole budget
#: (``cost_stop.search_pays``); 14 since the prior reads each ranked source's domain gap (``tf_gap``: the
#: meta-dataset's rows held it, auto imputed it with the training median: ``prior_plan.source_features``), the
#: search keeps time for the recipe the final choice would pick with the seconds it may keep, not with unlimited
#: time (``choice.incumbent_final_fit(seconds_left=)``), and the meta-dataset holds the adaptation strategies at 10
#: labels per class; 15 since the length gains (``benchmarks/results/length_gain``) hold the adaptation strategies'
#: full-length runs on ``mnist5k`` (5 and 10 labels per class) and mcc, cdan and self-training on ``digits-rotated``
#: with 10 (the data the priors are fitted on changed, not auto's code); 16 since one more configuration drawn by
#: the sampler is worth the mean over the strategies it can draw, not the pick's own recipe
#: (``cost_stop._drawn_value``): a change for labelled searches only (2 labels per class or more); 17 since a search
#: scored without labels runs the prior's picks after the first only while they cost the winner's final fit nothing
#: (``cost_stop._label_free``); 18 since a strategy's length gain is shrunk toward every strategy's per unit of log
#: training work, not in total (``_gains.LengthGains.log_kept``): the fine-tuning family's doubled length was
#: credited the adaptation loop's sixtyfold gains (the priors' length gains changed; every shots level, the first
#: pick's order too); 19 since, where several sources are given, each of the prior's picks takes the first source in
#: auto's ranking (LogME) unless the prior's table compares sources on one task (``PriorTable.compares_sources``; the
#: meta-dataset's does not: one source per task): the ranker had preferred the digits source for rotated MNIST;
#: 20 since the adaptation strategies score no epoch at their default ``select_by="last"`` (the scores picked
#: nothing and took as long as the training steps): their trials and final fits run in about 60 % of the time,
#: with the same weights (every shots level; the first trial's fit, without a deadline, is unchanged); 21 since
#: the next trial's value times each candidate's final fit by its own fit seconds (its latest trial, else the
#: incumbent's scaled by the prior's cost model: ``cost_stop.fit_seconds``), not by the incumbent's: a change for
#: labelled searches only (2 labels per class or more); 22 since, without labels and under a time budget, auto runs
#: no trial when the prior's second pick would cut the first one's final fit short (the first trial alone cannot
#: change the pick): the first pick gets the whole budget (``cost_stop.search_pays``; no labels only); 23 since a
#: configuration the sampler draws runs only while the pick's final fit keeps its full length after it
#: (``cost_stop._cut_short``): a change for labelled searches only (2 labels per class or more); 24 since the
#: final fit's learning-rate schedule is shortened to the steps that fit when the budget would cut it below 90% of
#: them (``engine.horizon.DeadlineHorizon``): every situation; 25 since the prior's ranker averages its conditional
#: trees with the marginal model, a recipe's mean at the same shots (``knowledge._marginal``), and the final fit's
#: horizon follows the pace of its latest steps and may lengthen the schedule again (``engine.horizon``): every
#: situation, the first pick included; 26 since the marginal model reads a recipe's mean on tasks of the same
#: modality first (``knowledge._marginal.levels``): every situation, the first pick included; 27 since, among the
#: queued picks within one posterior std of the best trial, the final choice keeps the one the prior alone expects
#: highest (``auto.choice.one_se_pick``), and with labels, as without, a search whose first two picks would cut the
#: first pick's final fit short runs no trial (``auto.cost_stop.search_pays``): labelled searches only (2 labels per
#: class or more); 28 since the prior's picks count the length gain of a final fit timed by one fit of the trial (its
#: predicted seconds over the protocol's folds, ``prior_plan.final_reach``), not by the whole k-fold trial: every
#: situation with labels (without them a trial is one fit); 29 since, under a time budget, a full-length final fit of
#: a strategy that still gained past its default length on other tasks (mcc) is planned at up to twice its steps,
#: its schedule shortened by the deadline horizon to the steps that fit (``auto.final_fit.longer``): every
#: situation whose winner is mcc at its full length (the tabular one keeps its trials' length: a negative gain); 30
#: since the deadline horizon shortens a longer plan's schedule on any projected miss (``FinalFit.keep_share``
#: 1.0), not only below 90% of its steps: at revision 29 digits-unlabelled's mcc reached 90-96% of its 6,000 steps,
#: its schedule kept and its last 4-10% cut unannealed: every situation whose winner is mcc at its full length; 31
#: since the meta-dataset and the length gains hold three more tabular families (penguins, crabs, pima): every
#: situation's prior is fitted again, but only the tabular one plans otherwise (:data:`SCOPED_SITUATIONS`); 32 since
#: the engine trains a convolutional model in channels-last memory on CPU as on CUDA (``TrainConfig.channels_last``):
#: an mcc step on digits takes 18.5 ms, was 28.0, so a final fit reaches more of its planned steps in the budget:
#: the image situations (the tabular one's MLP has no convolution); 33 since, after a search under a time budget, where
#: a classifier two-sample test finds no shift between the source's held-out inputs and the target's and the time
#: left fits the candidates, the source's held-out labels choose among fits of every strategy at both lengths
#: (``auto.source_validation``): the tabular situation only (:data:`SCOPED_SITUATIONS`); 34 since a first pick
#: whose final fit keeps its trials' length (its trials already run at its full length, or the user fixed one) no
#: longer stops the search for fear of cutting that fit (``cost_stop._first_pick_reach``): no situation of this
#: benchmark (every first pick of revisions 32 and 33 is mcc or source_only, whose trials run short); 35 since on a
#: table the phase replaces the search, the prior's first pick its first candidate, and runs on only where two
#: candidates fit, timed by the first one's fits (at revision 33 it followed the search and ran only when the search
#: had left it the time): the tabular situation only; 36 since the phase predicts a full length's seconds from its
#: first fit's training steps, not from the fit's whole wall time (timed whole, source_only's 1.3 s fit on breast,
#: 0.08 s of it in steps, predicted 78 s for its full length and stopped the phase on seed 0): the tabular situation;
#: 37 since the phase returns the weight average (a model soup, ``auto.soup``) of the five fits with the lowest
#: log-loss on the source's held-out labels, not the fit with the best accuracy there: the tabular situations; 38
#: since a tabular target's rows are standardized as the source's table was (``Task.in_scale``, the source model's
#: feature scaler), not by the target's own train split: the tabular situations (their recipe runs too:
#: ``benchmarks._revision.input_revision``); 39 since the soup's recipes are fitted again on the target's labels and the
#: source's held-out examples together (``auto.refit``) where the time left allows: the tabular situations; 40 since
#: the soup is returned without that refit again (revision 38's choice; both tabular situations fell at 39); 41 since
#: the phase returns the average of the same fits' class probabilities (an ensemble, ``backbones.ensemble``), not of
#: their weights: the tabular situations
AUTO_REVISION = 41
AUTO_ARMS = ("auto_prior", "auto_none", "first_trial")
#: the auto revisions that changed only the situations of some shots: revision → those shots. An auto (prior) run
#: of an earlier revision stays current in a situation that every later revision left as it was (the same code
#: path, the same decisions): revision 13's check finds the search worth running wherever a class has more than one
#: label or the score is label-free, so there it does what revision 12 did
SCOPED: dict[int, tuple[int, ...]] = {13: (1,), 16: (2, 5, 10, 20), 17: (0,), 19: (10,), 21: (2, 5, 10, 20),
                                     22: (0,), 23: (2, 5, 10, 20), 27: (2, 5, 10, 20), 28: (1, 2, 5, 10, 20)}
#: the auto revisions that changed only some situations: revision → those situations. Revision 31's priors (three
#: more tabular families in their rows) give every image situation the same plan for every seed 0-4 as revision
#: 30's: the same first two picks (all that a run without a search reads: every image run of revision 30 ran none)
#: and the same length gains (an image strategy's gain pools image pairs only); breast_cancer-b-5shot's first pick
#: changed (source_only for every seed, was dann, source_only or mcc): ``benchmarks/auto_plan_check.py``, its output in
#: ``benchmarks/results/auto/revision-31-plans/output.txt``. Revision 33's phase needs a trial's measured seconds and
#: returns before any work without them: every image run of revision 32 ran no search (chosen by the prior, 0 trials)
SCOPED_SITUATIONS: dict[int, tuple[str, ...]] = {
    31: ("breast_cancer-b-5shot",),
    32: ("digits-5shot", "mnist5k-b-rotated-10shot", "digits-unlabelled", "digits-1shot", "mnist5k-b-inverted-10shot"),
    33: ("breast_cancer-b-5shot",),
    34: (),
    35: ("breast_cancer-b-5shot",),
    36: ("breast_cancer-b-5shot",),
    37: ("breast_cancer-b-5shot", "spam7-b-5shot"),
    38: ("breast_cancer-b-5shot", "spam7-b-5shot"),
    39: ("breast_cancer-b-5shot", "spam7-b-5shot"),
    40: ("breast_cancer-b-5shot", "spam7-b-5shot"),
    41: ("breast_cancer-b-5shot", "spam7-b-5shot")}
#: each auto arm's revision: auto without the prior has not changed its choices since revision 2 (its runs of
#: revision 2 stay the baseline, today's auto before the prior; revision 12's final-fit stop is not in them); the
#: first trial's fit has not changed since revision 11 (revisions 12 and 13 changed neither the prior's first pick
#: nor :func:`first_trial_fit`, which runs without a deadline; a revision-13 run without a search has no first trial;
#: revisions 14, 18, 19, 25 and 26 changed the first pick: the prior reads the source's domain gap; the length gains;
#: its source; its ranker's model; the marginal model's modality; revision 27 the labelled runs without a search,
#: each its own first trial; revision 28 the labelled picks' reach; a first trial's run stays current where its auto
#: run does, :func:`unchanged_since`; revision 29 the final fit of a run without a search, its own first trial,
#: planned past its full length under the deadline; a searched run's first trial, fitted by :func:`first_trial_fit`
#: without a deadline, keeps its full length: the longer plan needs the deadline horizon to end by the budget;
#: revision 30 that final fit's horizon; revision 32 its pace, in the image situations)
ARM_REVISION = {"auto_prior": AUTO_REVISION, "first_trial": 32, "auto_none": 2}
#: how the first-trial arm is retrained (its rows of another are stale and run again): 2 since it is retrained
#: as auto's final fit would retrain it had the search stopped after it (:func:`first_trial_fit`), not at its
#: trials' length (an auto run that ran no search is its own first trial, :func:`own_first_trial`: its final fit
#: is the prior's first pick fitted as :func:`first_trial_fit` would fit it, so it needs no number of its own)
FIRST_FIT = 2


def may_run(arm: str, quick: bool = False) -> bool:
    """Whether today's code may run ``arm``: the arms of auto with the prior always (an older revision number
    says only that later revisions left them as they were), the no-prior arm only while its revision is today's,
    and in ``--quick`` (the machinery, not the numbers) every arm. The no-prior arm is revision 2's auto
    (:data:`ARM_REVISION`), which today's ``prior="none"`` code is not: run now, it would be recorded as revision
    2 while running revision :data:`AUTO_REVISION`'s code."""
    return quick or arm != "auto_none" or ARM_REVISION["auto_none"] == AUTO_REVISION


def scope_text(revision: int) -> str | None:
    """What auto revision ``revision`` changed, when it changed only some situations (:data:`SCOPED`,
    :data:`SCOPED_SITUATIONS`): ``those with 1 label(s) per class`` or the situations' names; None when it changed
    every situation."""
    if revision in SCOPED:
        return f"those with {', '.join(map(str, SCOPED[revision]))} label(s) per class"
    if revision in SCOPED_SITUATIONS:
        return ", ".join(SCOPED_SITUATIONS[revision])
    return None


def unchanged_since(revision: int, situation: str, upto: int | None = None) -> bool:
    """Whether every auto revision after ``revision`` up to ``upto`` (default :data:`AUTO_REVISION`) left
    ``situation`` as it was (:data:`SCOPED`, :data:`SCOPED_SITUATIONS`); the first-trial arm asks up to its own
    :data:`ARM_REVISION`."""
    last = AUTO_REVISION if upto is None else upto
    shots = next((s.shots for s in SITUATIONS if s.name == situation), None)
    return shots is not None and revision < last and all(
        (r in SCOPED and shots not in SCOPED[r])
        or (r in SCOPED_SITUATIONS and situation not in SCOPED_SITUATIONS[r]) for r in range(revision + 1, last + 1))


def situation_task(name: str) -> str | None:
    """The target task of situation ``name`` (None: no such situation)."""
    return next((s.task for s in SITUATIONS if s.name == name), None)


class RunLog:
    """The finished runs of ``runs.jsonl``, keyed by (situation, seed, arm, strategy)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.runs: dict[tuple[str, int, str, str], dict[str, Any]] = {}
        if path.exists():
            for line in path.read_text().splitlines():
                if line.strip():
                    row = json.loads(line)
                    if self.is_current(row):
                        self.runs[self.key(row)] = row

    @staticmethod
    def is_current(row: dict[str, Any]) -> bool:
        """Whether a run is current: an auto arm's of its :data:`ARM_REVISION` (the first trial's also retrained
        as :data:`FIRST_FIT` says), a recipe run's of its strategy's revision (a row without ``auto_revision``,
        ``first_fit`` or ``revision`` is of revision 1)."""
        from benchmarks._revision import is_current

        rev = int(row.get("auto_revision", 1))
        arm_rev = ARM_REVISION.get(str(row.get("arm")), AUTO_REVISION)
        if row.get("arm") in AUTO_ARMS and rev != arm_rev and not (
                row["arm"] in ("auto_prior", "first_trial") and unchanged_since(rev, str(row["situation"]), arm_rev)):
            return False
        if row.get("arm") == "first_trial" and int(row.get("first_fit", 1)) != FIRST_FIT:
            return False
        if row.get("arm") == "auto_none" and not row.get("quick") and int(row.get("code_revision", rev)) != rev:
            return False  # today's prior="none" code recorded under the baseline's revision (:func:`may_run`)
        if row.get("arm") not in ("single", "first_trial", HERE):
            return is_current({**row, "strategy": ""})
        strategy = str(row.get("strategy") or (row.get("label") or "").split(" ", 1)[0])
        return is_current({**row, "strategy": strategy}, situation_task(str(row.get("situation"))))

    @staticmethod
    def key(row: dict[str, Any]) -> tuple[str, int, str, str]:
        """(situation, seed, arm, strategy): strategy is empty but for the single-strategy arm."""
        return str(row["situation"]), int(row["seed"]), str(row["arm"]), str(row.get("strategy") or "")

    def get(self, situation: str, seed: int, arm: str, strategy: str = "") -> dict[str, Any] | None:
        """The finished run, or None."""
        return self.runs.get((situation, seed, arm, strategy))

    def add(self, row: dict[str, Any]) -> dict[str, Any]:
        """Append one finished run (one complete line: a kill loses at most the run under way)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as fh:
            fh.write(json.dumps(row, default=str) + "\n")
        self.runs[self.key(row)] = row
        return row
