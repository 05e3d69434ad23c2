"""The runs of the auto benchmark: auto with and without the prior, its first trial alone, single strategies.

Each run returns one row for ``runs.jsonl`` (:class:`benchmarks._auto_revisions.RunLog`, which also says which
rows are current). A run that raised a warmstart error is recorded with its ``error`` and not retried. A recipe
run (single strategy, first trial) records its strategy's :data:`benchmarks._meta_portfolio.REVISION`; an auto
run its arm's :data:`benchmarks._auto_revisions.ARM_REVISION` and the code revision that ran it.
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
from benchmarks._auto_revisions import ARM_REVISION, AUTO_ARMS, AUTO_REVISION, FIRST_FIT, situation_task
from benchmarks._auto_situations import Situation, lofo_rows, row_family
from benchmarks._report import cpu_name
from benchmarks._revision import input_revision

#: rows of the few task keys a ``--quick`` prior is fitted on (seconds, not minutes)
QUICK_PRIOR_TASKS = 8


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


def own_first_trial(prior_run: dict[str, Any], run_json: Path | None = None,
                    gain_of: Callable[[str], float] | None = None) -> dict[str, Any] | None:
    """The first-trial row of an auto (prior) run that ran no search, else None.

    A run chosen by the prior alone (``selection == "prior"``) fitted the prior's first pick with the whole budget:
    exactly what the first-trial arm would fit again, so its row (accuracy, seconds, label) is the arm's. A run whose
    source-validation phase replaced the search (``selection == "source"``) fitted the prior's first pick first, at
    its trials' length and at its full length (``run_json``'s ``source_validation.fits``): the arm's row is that fit
    at the length auto's final fit would give it alone (the trials' where ``gain_of(strategy)``, the prior's raw
    length gain, is negative), read from the run with no second run."""
    from benchmarks._meta_portfolio import REVISION
    from benchmarks._revision import current_revision

    if prior_run.get("accuracy") is None:
        return None
    row = {k: v for k, v in prior_run.items() if k not in ("first_trial", "trials", "selection", "prior", "budget")}
    row.update(arm="first_trial", auto_revision=ARM_REVISION["first_trial"], first_fit=FIRST_FIT)
    if prior_run.get("selection") == "prior":
        strategy = str(prior_run.get("label") or "").split(" ", 1)[0]
        row["final_fit"] = "the auto run's own final fit (it ran no search)"
    elif prior_run.get("selection") == "source" and run_json is not None and run_json.is_file():
        fits = (json.loads(run_json.read_text()).get("source_validation") or {}).get("fits") or []
        if not fits or fits[0].get("test_accuracy") is None:
            return None
        first = fits[0]
        strategy = str(first["strategy"])
        full = fits[1] if len(fits) > 1 and fits[1]["strategy"] == strategy and fits[1]["length"] == "full" else None
        fit = first if full is None or (gain_of is not None and gain_of(strategy) < 0) else full
        row.update(accuracy=fit["test_accuracy"], seconds=fit["seconds"],
                   label=f"{strategy} ({fit['length']}) from {first.get('source')}",
                   final_fit="the source-validation phase's fit of the prior's first pick at the length auto's final "
                             "fit would give it (no search ran)")
    else:
        return None
    if strategy in REVISION:
        row["revision"] = current_revision(strategy)
    task = situation_task(str(row["situation"]))
    if input_revision(task) != 1:
        row["input_revision"] = input_revision(task)
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
    if input_revision(sit.task) != 1:
        row["input_revision"] = input_revision(sit.task)
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
