"""The runs of the auto benchmark: auto with and without the prior, its first trial alone, single strategies.

Every finished run is one line of ``runs.jsonl`` (:class:`RunLog`), written as soon as it ends, so
a stopped benchmark continues where it was when started again with the same ``--out``. A run that
raised a warmstart error is recorded with its ``error`` and not retried. A recipe run (single
strategy, first trial) records its strategy's :data:`benchmarks._meta_portfolio.REVISION`, as the
meta-dataset's runs do: a run of an older revision is stale, so it is read as not done and run again
(its line stays in the file; the newer line wins). The auto arms' runs record their revision
(:data:`ARM_REVISION`) the same way.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks._auto_report import HERE
from benchmarks._auto_situations import SITUATIONS, Situation, lofo_rows, row_family
from benchmarks._report import cpu_name

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
#: situation's prior is fitted again, but only the tabular one plans otherwise (:data:`SCOPED_SITUATIONS`)
AUTO_REVISION = 31
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
#: ``benchmarks/results/auto/revision-31-plans/output.txt``
SCOPED_SITUATIONS: dict[int, tuple[str, ...]] = {31: ("breast_cancer-b-5shot",)}
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
#: revision 30 that final fit's horizon)
ARM_REVISION = {"auto_prior": AUTO_REVISION, "first_trial": 31, "auto_none": 2}
#: how the first-trial arm is retrained (its rows of another are stale and run again): 2 since it is retrained
#: as auto's final fit would retrain it had the search stopped after it (:func:`first_trial_fit`), not at its
#: trials' length (an auto run that ran no search is its own first trial, :func:`own_first_trial`: its final fit
#: is the prior's first pick fitted as :func:`first_trial_fit` would fit it, so it needs no number of its own)
FIRST_FIT = 2
#: rows of the few task keys a ``--quick`` prior is fitted on (seconds, not minutes)
QUICK_PRIOR_TASKS = 8


def may_run(arm: str, quick: bool = False) -> bool:
    """Whether today's code may run ``arm``: the arms of auto with the prior always (an older revision number
    says only that later revisions left them as they were), the no-prior arm only while its revision is today's,
    and in ``--quick`` (the machinery, not the numbers) every arm. The no-prior arm is revision 2's auto
    (:data:`ARM_REVISION`), which today's ``prior="none"`` code is not: run now, it would be recorded as revision
    2 while running revision :data:`AUTO_REVISION`'s code."""
    return quick or arm != "auto_none" or ARM_REVISION["auto_none"] == AUTO_REVISION


def unchanged_since(revision: int, situation: str, upto: int | None = None) -> bool:
    """Whether every auto revision after ``revision`` up to ``upto`` (default :data:`AUTO_REVISION`) left
    ``situation`` as it was (:data:`SCOPED`, :data:`SCOPED_SITUATIONS`); the first-trial arm asks up to its own
    :data:`ARM_REVISION`."""
    last = AUTO_REVISION if upto is None else upto
    shots = next((s.shots for s in SITUATIONS if s.name == situation), None)
    return shots is not None and revision < last and all(
        (r in SCOPED and shots not in SCOPED[r])
        or (r in SCOPED_SITUATIONS and situation not in SCOPED_SITUATIONS[r]) for r in range(revision + 1, last + 1))


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
        strategy = str(row.get("strategy") or (row.get("label") or "").split(" ", 1)[0]) \
            if row.get("arm") in ("single", "first_trial", HERE) else ""
        return is_current({**row, "strategy": strategy})

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


def file_hash(path: Path) -> str:
    """First 12 hex digits of the file's sha256 (names the priors fitted on that table)."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:12]


def few_tasks(rows: list[dict[str, Any]], n: int = QUICK_PRIOR_TASKS) -> list[dict[str, Any]]:
    """The rows of ``n`` task keys spread over the sorted keys (so over families), curves dropped: a prior
    fitted in about a second."""
    keys = sorted({str(r["task"]) for r in rows})
    keep = set(keys[::max(1, len(keys) // n)][:n])
    return [{**r, "curve": None} for r in rows if str(r["task"]) in keep]


def family_prior(rows: list[dict[str, Any]], family: str, folder: Path, tag: str,
                 quick: bool = False, gain_rows: list[dict[str, Any]] | None = None) -> tuple[Any, str]:
    """The prior for a situation of ``family``: fitted on every other family's rows (target test accuracy),
    and its length gains on every other family's ``gain_rows`` (the length-gain benchmark's runs).

    Cached as ``folder/<family>-<tag>.json.gz`` (``tag`` names the table); its gray-box model is
    fitted here, before any auto run, so no run's budget pays for it. Returns (prior or None, a note).
    """
    from warmstart.errors import DataError
    from warmstart.knowledge.prior import Prior, fit_prior

    path = folder / f"{family}-{tag}{'-quick' if quick else ''}.json.gz"
    train = lofo_rows(rows, family)
    if quick:
        train = few_tasks(train)
    t0 = time.perf_counter()
    if path.exists():
        prior = Prior.load(path)
    else:
        try:
            gains = lofo_rows(gain_rows or [], family)
            prior = fit_prior(train, target="test_accuracy", gain_rows=gains or None)
        except DataError as exc:
            return None, f"no prior without {family}: {exc}"
        folder.mkdir(parents=True, exist_ok=True)
        prior.save(path)
    if prior.has_gray_box and prior.candidates():  # fit the lazily built curve model now
        prior.predict_final([0.5], prior.candidates()[0], {})
    fams = sorted({str(row_family(r)) for r in train})
    return prior, (f"without {family}: {prior.describe()}; {len(train)} rows of {', '.join(fams)}"
                   f"{' (quick: a few tasks only)' if quick else ''}; {time.perf_counter() - t0:.0f} s")


def _first_trial(storage: Path) -> Any:
    """The lowest-numbered trial of the auto study in ``storage`` when it recorded its recipe, else None."""
    import optuna

    from warmstart.auto.search import KIND
    from warmstart.knowledge.records import SEP
    from warmstart.knowledge.storage import open_storage

    st = open_storage(str(storage))
    names = [n for n in optuna.get_all_study_names(storage=st) if n.endswith(SEP + KIND)]
    trials = sorted(optuna.load_study(study_name=names[0], storage=st).get_trials(deepcopy=False),
                    key=lambda t: t.number) if names else []
    return trials[0] if trials and isinstance(trials[0].user_attrs.get("recipe"), dict) else None


def own_first_trial(prior_run: dict[str, Any]) -> dict[str, Any] | None:
    """The first-trial row of an auto (prior) run that ran no search (``selection == "prior"``), else None.

    Such a run's final fit is the prior's first pick with the whole budget: exactly what the first-trial arm
    would fit again, so its row (accuracy, seconds, label) is the arm's, with no second run."""
    from benchmarks._meta_portfolio import REVISION
    from benchmarks._revision import current_revision

    if prior_run.get("selection") != "prior" or prior_run.get("accuracy") is None:
        return None
    strategy = str(prior_run.get("label") or "").split(" ", 1)[0]
    row = {k: v for k, v in prior_run.items() if k not in ("first_trial", "trials", "selection", "prior", "budget")}
    row.update(arm="first_trial", auto_revision=ARM_REVISION["first_trial"], first_fit=FIRST_FIT,
               final_fit="the auto run's own final fit (it ran no search)")
    if strategy in REVISION:
        row["revision"] = current_revision(strategy)
    return row


def first_trial_recipe(storage: Path) -> dict[str, Any] | None:
    """The recipe (``Recipe.to_json``), state and value of the first trial of the auto study in ``storage``."""
    t = _first_trial(storage)
    return None if t is None else {"recipe": t.user_attrs["recipe"], "state": t.state.name, "value": t.value}


def first_trial_fit(storage: Path, run_json: Path, budget: str, n_labelled: int,
                    user_params: dict[str, Any] | None = None,
                    gain_of: Callable[[str], float] | None = None) -> tuple[dict[str, Any], str] | None:
    """The first trial of an auto run, with the final fit auto would have given it had its search stopped there.

    That final fit (:func:`warmstart.auto.final_fit.final_fit`) has the rest of the same budget: the
    budget less the run's time before its search (``run.json``'s setup, pretraining and ranking), the
    first trial's wall seconds and :data:`~warmstart.auto.clock.FINISH_SECONDS`; its length is
    predicted from the trial's measured fit seconds, as auto predicts it, and the trials' length is kept
    where ``gain_of(strategy)`` (the prior's raw length gain, as auto reads it) is negative. Returns (the recipe as
    ``Recipe.to_json``, with the final fit's parameters; the final fit's note), or None when the study
    or its first trial's recipe or fit seconds are missing (the trial failed).
    """
    from warmstart.auto.clock import FINISH_SECONDS
    from warmstart.auto.final_fit import final_fit
    from warmstart.search.budget import Budget

    first = _first_trial(storage) if storage.is_file() else None
    if first is None or first.user_attrs.get("fit_seconds") is None:
        return None
    recipe = dict(first.user_attrs["recipe"])
    seconds = Budget.parse(budget).seconds
    left = None
    if seconds is not None:
        phases = json.loads(run_json.read_text()).get("time", {}) if run_json.is_file() else {}
        before = sum(float(phases.get(k) or 0.0) for k in ("setup", "pretraining", "ranking"))
        left = max(0.0, seconds - FINISH_SECONDS - before - float(first.user_attrs.get("wall_seconds") or 0.0))
    strategy = str(recipe["strategy"])
    train = first.user_attrs.get("train_seconds")
    plan = final_fit(strategy, dict(recipe.get("params") or {}), user_params, n_labelled,
                     float(first.user_attrs["fit_seconds"]), left, None if gain_of is None else gain_of(strategy),
                     None if train is None else float(train))
    return {**recipe, "params": plan.params}, plan.note


def source_checkpoints(work: Path, names: list[str], quick: bool = False) -> dict[str, Path]:
    """Each source task pretrained once into a checkpoint (which names its task, so it carries its data).

    The meta-dataset's own recipe (:func:`benchmarks._meta_tasks.prepare_source`); ``quick``: 2
    epochs on 1,500 examples (seconds, and well above chance after a 4-step fine-tune, which the
    meta-dataset's 1-epoch quick source is not).
    """
    from benchmarks._meta_tasks import prepare_source

    if not quick:
        return {n: prepare_source(work, n) for n in names}
    from warmstart.engine.config import TrainConfig
    from warmstart.pretraining import pretrain_supervised
    from warmstart.tasks import get_task

    out = {}
    for n in names:
        out[n] = work / "sources-quick" / n
        if not (out[n] / "meta.json").exists():
            task = get_task(n)
            task = task.replace(x_train=task.x_train[:1500], y_train=task.y_train[:1500])
            pretrain_supervised(task, out[n], config=TrainConfig(
                epochs=2, lr=3e-3, augment="light" if task.modality == "image" else "none", progress=False, seed=0))
    return out


def source_sha256(checkpoint: Path) -> str:
    """The sha256 of a source checkpoint's weights (its ``meta.json`` records it): runs paired by seed are paired
    by source weights too only when these match (sources pretrained again on another machine differ slightly)."""
    from warmstart.backbones.checkpoint import read_meta

    return str(read_meta(checkpoint)["sha256"])


def run_auto(sit: Situation, seed: int, arm: str, prior: Any, ckpts: dict[str, Path], work: Path,
             budget: str, quick: dict[str, Any] | None) -> dict[str, Any]:
    """One auto run (``arm`` ``auto_prior`` with ``prior``, ``auto_none`` without), with its own empty
    knowledge base; ``quick`` holds the fixed params and strategies of a ``--quick`` run."""
    import torch

    from warmstart.auto import auto
    from warmstart.errors import WarmstartError

    db = work / "kb" / f"{sit.name}-{seed}-{arm}.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    db.unlink(missing_ok=True)  # a run cut short left trials there: start empty
    folder = work / "runs" / f"{sit.name}-{seed}-{arm}"
    row: dict[str, Any] = {"situation": sit.name, "seed": seed, "arm": arm, "budget": budget, "cpu": cpu_name(),
                           "auto_revision": ARM_REVISION[arm], "code_revision": AUTO_REVISION,
                           **({"quick": True} if quick else {}), "threads": int(torch.get_num_threads()),
                           "sources_sha256": {t: source_sha256(ckpts[t]) for t in sit.source_tasks}}
    t0 = time.perf_counter()
    try:
        res = auto(sit.task, budget=budget, sources=[ckpts[t] for t in sit.source_tasks],
                   source_tasks=list(sit.source_tasks), storage=str(db), shots=sit.shots, seed=seed, out=folder,
                   progress=False, params=(quick or {}).get("params"), strategies=(quick or {}).get("strategies"),
                   prior=prior if prior is not None else "none", command=f"benchmarks.auto {sit.name} {arm}")
    except WarmstartError as exc:
        return {**row, "accuracy": None, "error": str(exc), "seconds": time.perf_counter() - t0}
    shutil.rmtree(folder / "model", ignore_errors=True)  # run.json and report.html stay
    row.update(accuracy=float(res["winner"]["test"]["accuracy"]), seconds=time.perf_counter() - t0,
               load_1m=round(os.getloadavg()[0], 2),
               n_classes=len(res["winner"]["classes"]), trials=len(res["trials"]), label=res["winner"]["label"],
               selection=res["selection"].get("by"), prior=(res.get("prior") or {}).get("describe"))
    if arm == "auto_prior":
        row["first_trial"] = first_trial_recipe(db)
    return row


def run_recipe_row(sit: Situation, seed: int, arm: str, recipe: Any, source: Any = None) -> dict[str, Any]:
    """One recipe fit on every label of the situation's support set (``validation="none"``), test accuracy."""
    import torch

    from benchmarks._meta_portfolio import REVISION
    from benchmarks._revision import current_revision
    from warmstart.errors import WarmstartError
    from warmstart.recipe import run_recipe

    row: dict[str, Any] = {"situation": sit.name, "seed": seed, "arm": arm, "label": recipe.describe(),
                           "cpu": cpu_name()}
    if recipe.source and recipe.source_task:
        row["sources_sha256"] = {recipe.source_task: source_sha256(Path(recipe.source))}
    if arm in AUTO_ARMS:
        row["auto_revision"] = ARM_REVISION[arm]
    if arm in ("single", HERE):
        row["strategy"] = recipe.strategy
    if recipe.strategy in REVISION:  # rows of a never-revised strategy carry none (revision 1)
        row["revision"] = current_revision(recipe.strategy)
    t0, cpu0 = time.perf_counter(), time.process_time()
    try:
        res = run_recipe(sit.task, recipe, validation="none", source=source, keep_model=False)
    except WarmstartError as exc:
        return {**row, "accuracy": None, "error": str(exc), "seconds": time.perf_counter() - t0}
    row["threads"] = int(torch.get_num_threads())  # a fit's numerics depend on them (thread_pairing)
    if arm in AUTO_ARMS:  # the first trial's final fit has a time budget: the load says whether it was alone
        row["load_1m"] = round(os.getloadavg()[0], 2)
    else:  # a one-thread run's CPU seconds set auto's equal-time budget whatever else ran beside it
        row["cpu_seconds"] = time.process_time() - cpu0
    return {**row, "accuracy": float(res.test["accuracy"]), "seconds": time.perf_counter() - t0}
