"""Tabular: would auto gain from combining its cheap fits, or from the source's held-out labels? A probe.

On a small table every strategy's full-length fit takes seconds (the auto benchmark's ``breast_cancer-b``
situation: auto spends about 5 s of its 2 minutes), and with 1–5 labels per class nothing on the task can
tell recipes 1–2 test examples apart, so one pick is a coin flip among near-ties. An ensemble of fits
from different recipes is not bound to one of them (Caruana et al., "Ensemble Selection from Libraries
of Models", ICML 2004; the stacked and bagged ensembles of AutoGluon-Tabular, Erickson et al., 2020), and
a uniform weight average of fits from one pretrained source ("model soup", Wortsman et al., ICML 2022)
is one model of the source's architecture.

This probe measures it on the meta-dataset's tabular families **other than** ``breast_cancer`` (the auto
benchmark's tabular situation), with priors fitted on neither the cell's family nor ``breast_cancer``, so
no row of that family enters the decision, and (since 2026-12-05) on three tables like the auto benchmark's
``spam7`` that no prior learns from (``hmda``, ``cells``, ``churn``: :data:`benchmarks._meta_tasks.PROBE_TARGETS`,
200–500 test examples a cell where the meta-dataset's tables have 13–54). Per (cell, seed), on the seed's few-shot
cut, from the cell's pretrained source (the meta-dataset's, :mod:`benchmarks._meta_tasks`): every applicable
strategy at its defaults is fit on every label at the trial budget and at its full length (as the length-gain benchmark,
:func:`benchmarks._length_gain_runs.fidelities`); each fit's class probabilities on the test split are kept,
with the prior's order of the strategies (utility as ``auto`` ranks for its final fit, predicted score,
length gain). Each fit's probabilities on the source task's held-out examples (its validation and test splits,
which neither the source checkpoint nor any strategy trains on) are kept too: every tabular pair here is two halves
of one table, so those labels are a sample of the target's distribution, a validation set ``auto`` can read
(:mod:`warmstart.auto.source_validation`); the recipes of the best soup by them are fitted again with those labels
added (:func:`refit_soups`, auto's refit). The policies (:mod:`benchmarks._tabular_policies`) are then scored
offline against the benchmark's baseline, the best single strategy at its defaults picked in hindsight per cell.

Usage:
    python -m benchmarks.tabular_ensemble_probe --cells crabs-b@5 pima-b@1 --seeds 0 1 2
    WARMSTART_THREADS=1 taskset -c 0 python -m benchmarks.tabular_ensemble_probe --shard 0/2 --threads 1 &
    python -m benchmarks.tabular_ensemble_probe --report-only
    python -m benchmarks.tabular_ensemble_probe --situations-check --seeds 0 1 2 3 4
    python -m benchmarks.tabular_ensemble_probe --quick

``--situations-check`` runs the auto benchmark's tabular situations instead (``breast_cancer-b`` and ``spam7-b``
at 5 labels per class, from that benchmark's source checkpoints and with its priors: fitted without the
situation's own family only), into ``situations-check/``: a check of policies chosen on the other cells, never
a place to choose them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks._report import output_folder
from benchmarks._shard import in_shard, parse_shard

#: every tabular cell of the meta-dataset at 1 and 5 labels per class, the situation's family left out, and the
#: probe's own spam7-like tables (:data:`benchmarks._meta_tasks.PROBE_TARGETS`, since 2026-12-05)
CELLS = ("crabs-b@5", "iris-b@5", "penguins-b@5", "pima-b@5", "wine-b@5", "wine-b[class_0,class_1]@5",
         "crabs-b@1", "iris-b@1", "penguins-b@1", "pima-b@1", "wine-b@1", "wine-b[class_0,class_1]@1",
         "hmda-b@5", "cells-b@5", "churn-b@5", "hmda-b@1", "cells-b@1", "churn-b@1")
#: the auto benchmark's tabular situation's family: no row of it fits the probe's priors
HELD_OUT = "breast_cancer"
QUICK_CELLS = ("iris-b@5",)
QUICK_STRATEGIES = ("finetune", "l2sp", "source_only")
META_WORK = Path(__file__).resolve().parent / "results" / "meta_dataset" / "work"
#: the auto benchmark's work folder (its source checkpoints), read by ``--situations-check``
AUTO_WORK = Path(__file__).resolve().parent / "results" / "auto" / "work"


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def cell_priors(cells: list[Any], folder: Path, quick: bool, held_out: str | None = HELD_OUT) -> dict[str, Any]:
    """Family → the prior fitted without that family and without ``held_out`` (target test accuracy, length
    gains from the same families' runs), as the auto benchmark fits its priors."""
    from benchmarks._auto_arms import family_prior, file_hash
    from benchmarks._auto_situations import row_family
    from benchmarks._length_gain_runs import GAIN_RUNS, read_gain_rows
    from benchmarks._prior_rows import TABLE, read_rows

    rows = [r for r in read_rows(TABLE) if held_out is None or row_family(r) != held_out]
    gains = [r for r in read_gain_rows(GAIN_RUNS) if held_out is None or r.get("family") != held_out]
    tag = f"no-{held_out or 'other'}-{file_hash(TABLE)}-g{file_hash(GAIN_RUNS)}"
    out: dict[str, Any] = {}
    for c in cells:
        if c.target.family not in out:
            out[c.target.family], note = family_prior(rows, c.target.family, folder, tag, quick, gains)
            _log(f"prior {note}")
    return out


def prior_order(prior: Any, cut: Any, ranked: list[Any], strategies: list[str],
                budget_s: float) -> list[dict[str, Any]]:
    """The strategies in the prior's order as ``auto`` ranks for its final fit (each strategy's best recipe):
    ``strategy``, ``utility``, ``predicted`` (without the length gain) and ``gain`` (the raw length gain; < 0:
    auto keeps the trial's length)."""
    from warmstart.auto.prior_plan import final_reach, source_features
    from warmstart.knowledge.metafeatures import meta_features
    from warmstart.search.budget import Budget
    from warmstart.tasks._task import n_items
    from warmstart.validation import trial_fits

    situation = {**meta_features(cut), "shots": cut.shots, "modality": cut.modality}
    cands = [c for c in prior.candidates(strategies) if c.architecture is None]
    picks = prior.suggest(situation, k=len(cands), sources=source_features(ranked[:1]), candidates=cands,
                          full_length=True, reach=final_reach(Budget(seconds=budget_s), n_items(cut.x_train),
                                                              None, trial_fits(cut)))
    out: dict[str, dict[str, Any]] = {}
    for p in picks:
        if p.spec.strategy not in out:
            out[p.spec.strategy] = {"strategy": p.spec.strategy, "utility": p.utility, "predicted": p.predicted,
                                    "gain": prior.raw_length_gain(p.spec.strategy, int(cut.shots or 0), cut.modality)}
    return list(out.values())


def probe_cell(cell: Any, seed: int, prior: Any, work: Path, quick: bool,
               strategies: list[str] | None) -> dict[str, Any]:
    """Every applicable strategy at both lengths on one cut: test probabilities, accuracy, seconds; the prior's
    order; the weight averages of the prior's first fits."""
    from benchmarks._length_gain_runs import fidelities
    from benchmarks._meta_portfolio import applicable, members
    from benchmarks._meta_tasks import prepare_source
    from benchmarks._probe import cut_row
    from benchmarks._tabular_policies import TOPS, returned
    from benchmarks.ensemble_probe import soup
    from warmstart.auto.soup import lowest_nll
    from warmstart.auto.source_validation import _target_inputs, source_split
    from warmstart.auto.sources import rank_sources
    from warmstart.recipe import Recipe, run_recipe
    from warmstart.source import Source
    from warmstart.tasks import get_task

    t = cell.target
    cut = get_task(t.name).few_shot(cell.shots, seed=seed)
    source = Source(path=prepare_source(work, t.source, quick=quick), task_name=t.source_task, seed=seed)
    portfolio = [m for m in members(0, quick=quick, strategies=strategies) if m.id == f"{m.strategy}#default"]
    runnable, _ = applicable(portfolio, cut)
    ranked = rank_sources(cut, [(t.source, source)])
    split = source_split(get_task(t.source_task), cut)  # what auto's source validation reads
    if split is None:
        raise ValueError(f"{t.source_task}: no held-out split with the classes of {t.name}")
    held_x, held_y = split[0], split[1].tolist()
    order = prior_order(prior, cut, ranked, [m.strategy for m in runnable], 120.0) if prior is not None else []
    probs: dict[str, list[list[float]]] = {}
    acc: dict[str, float] = {}
    seconds: dict[str, float] = {}
    models: dict[str, Any] = {}
    source_probs: dict[str, list[list[float]]] = {}
    domain: dict[str, dict[str, float]] = {}
    target_x = _target_inputs(cut)
    recipes: dict[str, Any] = {}
    for m in runnable:
        for fidelity, params in fidelities(m, len(cut.y_train), quick):
            name = f"{m.strategy}/{fidelity}"
            recipe = Recipe(m.strategy, params, source=str(source.path), source_task=t.source_task,
                            shots=cell.shots, seed=seed)
            t0 = time.perf_counter()
            res = run_recipe(cut, recipe, validation="none", source=source, keep_model=True)
            recipes[name] = recipe
            seconds[name] = round(time.perf_counter() - t0, 3)
            models[name] = res.strategy.model_
            inputs = res.strategy.task_inputs  # rows as the model takes them (a table's: the source's scale)
            probs[name] = _rounded(res.strategy.predict_proba(inputs(cut, cut.x_test)))
            acc[name] = float(res.test["accuracy"])
            source_probs[name] = _rounded(res.strategy.predict_proba(inputs(cut, held_x)))
            domain[name] = domain_accuracy(res.strategy.model_, inputs(cut, held_x), inputs(cut, target_x), seed)
    soups = {}
    for k in TOPS:
        fits = [returned(order, probs, s["strategy"]) for s in order if f"{s['strategy']}/trial" in probs][:k]
        averaged = soup([models[f] for f in fits]) if len(fits) == k else None
        if averaged is not None:
            soups[f"soup top-{k}"] = test_probs(averaged, cut)
    held = {f: held_score(m, cut, held_x, held_y) for f, m in models.items()}
    soups.update(source_soups(models, held, cut, held_x, held_y))
    names = list(models)  # the fits of ``soup NLL top-5``, refitted at other seeds and with the held-out labels
    chosen = [names[i] for i in lowest_nll([models[f] for f in names], [held[f][1] for f in names], size=5)]
    soups.update(seed_soups(models, chosen, recipes, cut, source))
    soups.update(refit_soups(chosen, recipes, cut, source, split[0], split[1]))
    return cut_row(t.name, cell.shots, seed, family=t.family, y=cut.y_test.tolist(), order=order, accuracy=acc,
                   probs=probs, soups=soups, seconds=seconds, source_y=held_y, source_probs=source_probs,
                   domain=domain)


def in_model_scale(model: Any, task: Any, x: Any) -> Any:
    """``task``'s inputs ``x`` as ``model`` takes them (:func:`warmstart.backbones.input_stats.model_inputs`)."""
    from warmstart.backbones.input_stats import model_inputs

    return model_inputs(model, task, x)


def test_probs(model: Any, cut: Any) -> list[list[float]]:
    """``model``'s class probabilities on ``cut``'s test split, rounded as the probe stores them."""
    from warmstart.engine.evaluate import predict_proba

    return _rounded(predict_proba(model, in_model_scale(model, cut, cut.x_test)))


def held_score(model: Any, cut: Any, held_x: Any, held_y: list[int]) -> tuple[float, float]:
    """(accuracy, log-loss) of ``model`` on the source's held-out examples (in ``cut``'s standardization)."""
    import torch

    from warmstart.auto.soup import held_out_scores
    from warmstart.engine.evaluate import predict_proba

    return held_out_scores(predict_proba(model, in_model_scale(model, cut, held_x)), torch.as_tensor(held_y))


def source_soups(models: dict[str, Any], held: dict[str, tuple[float, float]], cut: Any, held_x: Any,
                 held_y: list[int]) -> dict[str, Any]:
    """Weight averages of the fits chosen on the source's held-out examples (Wortsman et al., "Model soups",
    ICML 2022), as test probabilities: ``soup NLL top-K``, the uniform soup of the K fits with the lowest held-out
    log-loss (those sharing the first one's architecture), and the paper's greedy soups, ingredients taken in
    order of held-out accuracy (ties: log-loss) and kept while the soup's held-out accuracy does not drop
    (``greedy soup, accuracy``) or its log-loss does not rise (``greedy soup, NLL``). ``held``: each fit's
    :func:`held_score`."""
    from warmstart.auto.soup import average_weights, nll_soup

    names = list(models)
    by_acc = sorted(models, key=lambda f: (-held[f][0], held[f][1]))
    out: dict[str, Any] = {}
    for k in (3, 4, 5, 7, 10):  # auto's K is 5 (warmstart.auto.soup); the tie order here: the fits' run order
        kept, averaged = nll_soup([models[f] for f in names], [held[f][1] for f in names], size=k)
        if len(kept) == k:
            out[f"soup NLL top-{k}"] = test_probs(averaged, cut)
    for rule, better in (("accuracy", lambda new, old: new[0] >= old[0]), ("NLL", lambda new, old: new[1] <= old[1])):
        chosen, best = [by_acc[0]], held[by_acc[0]]
        for f in by_acc[1:]:
            trial = average_weights([models[g] for g in (*chosen, f)])
            if trial is not None and better(s := held_score(trial, cut, held_x, held_y), best):
                chosen, best = [*chosen, f], s
        whole = average_weights([models[g] for g in chosen])
        assert whole is not None  # every kept fit averaged with the ones before it
        out[f"greedy soup, {rule}"] = test_probs(whole, cut)
    return out


#: the extra training seeds of a seed soup's ingredients (the cut, its support set, stays the seed's own)
SEED_OFFSETS = (1000, 2000)


def seed_soups(models: dict[str, Any], chosen: list[str], recipes: dict[str, Any], cut: Any,
               source: Any) -> dict[str, Any]:
    """Soups over training seeds, as test probabilities: the fits of ``soup NLL top-K`` (K = 1, 5) each fitted again
    on the same support set with the training seeds of :data:`SEED_OFFSETS` (the recipe's seed moved; the cut is
    the seed's own), and the uniform weight average of all of them (``seed soup NLL top-K xN``, N fits per
    ingredient). Averaging fits that differ only in their training randomness lowers the variance a single fit
    carries (Wortsman et al., ICML 2022, average fine-tunings of one pretrained model that differ in seed too).
    ``chosen``: the names of the fits of ``soup NLL top-5``, the lowest held-out log-loss first."""
    import dataclasses

    from warmstart.auto.soup import average_weights
    from warmstart.recipe import run_recipe

    extra: dict[str, list[Any]] = {f: [] for f in chosen}
    for f in chosen:
        for offset in SEED_OFFSETS:
            recipe = dataclasses.replace(recipes[f], seed=recipes[f].seed + offset)
            extra[f].append(run_recipe(cut, recipe, validation="none", source=source, keep_model=True).strategy.model_)
    out: dict[str, Any] = {}
    for k in (1, 5):
        if len(chosen) < k:
            continue
        for n in (2, 3):
            whole = average_weights([m for f in chosen[:k] for m in (models[f], *extra[f][: n - 1])])
            if whole is not None:
                out[f"seed soup NLL top-{k} x{n}"] = test_probs(whole, cut)
    return out


def refit_soups(chosen: list[str], recipes: dict[str, Any], cut: Any, source: Any, held_x: Any,
                held_y: Any) -> dict[str, Any]:
    """The fits of ``soup NLL top-K`` (K = 1, 5) fitted again with the source's held-out examples added to the
    support set as labelled target examples, as test probabilities (``refit soup NLL top-K``). The held-out labels
    chose the fits; once chosen, refitting them on every label there is (support and held-out) is the "refit on
    train and validation" of AutoML systems (AutoGluon's ``refit_full``, Erickson et al., 2020): on two halves of one
    table those labels are a sample of the target's distribution, tens to hundreds of them where the support set has
    1–5 per class. No held-out example is left to check the refit, so this probe is where it is judged.
    ``chosen``: as for :func:`seed_soups`; ``held_x``/``held_y``: the held-out examples in ``cut``'s standardization,
    labels as indices into its classes."""
    import torch

    from warmstart.auto.soup import average_weights
    from warmstart.recipe import run_recipe
    from warmstart.tasks._task import concat

    grown = cut.replace(x_train=concat(cut.x_train, held_x), y_train=torch.cat([cut.y_train, held_y.long()]))
    refit = [run_recipe(grown, recipes[f], validation="none", source=source, keep_model=True).strategy.model_
             for f in chosen]
    out: dict[str, Any] = {}
    for k in (1, 5):
        whole = average_weights(refit[:k]) if len(refit) >= k else None
        if whole is not None:
            out[f"refit soup NLL top-{k}"] = test_probs(whole, cut)
    return out


def domain_accuracy(model: Any, source_x: Any, target_x: Any, seed: int) -> dict[str, float]:
    """How well a domain classifier tells the source's held-out inputs from the target's (pool and support) in a
    fit's own features (the pooled features its head reads): the cross-validated accuracy of a logistic regression
    (:func:`warmstart.auto.shift_test.shift_test`'s) and of 10 nearest neighbours (0.5: the fit's features do not
    tell the domains apart) — the divergence term of the domain-adaptation bound (Ben-David et al., "A theory of
    learning from different domains", Machine Learning 2010), probed as a model-selection signal."""
    import numpy as np
    import torch
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from warmstart.auto.shift_test import shift_test

    model.eval()
    with torch.no_grad():
        fs, ft = model.features(source_x).float(), model.features(target_x).float()
    linear = shift_test(fs, ft, seed=seed)
    n = min(len(fs), len(ft), 500)
    rng = np.random.default_rng(seed)
    x = np.concatenate([fs[rng.choice(len(fs), n, replace=False)].numpy(),
                        ft[rng.choice(len(ft), n, replace=False)].numpy()])
    y = np.repeat([0, 1], n)
    knn = cross_val_score(make_pipeline(StandardScaler(), KNeighborsClassifier(10)), x, y,
                          cv=StratifiedKFold(5, shuffle=True, random_state=seed)).mean()
    return {"linear": round(linear.accuracy, 4) if linear is not None else float("nan"), "knn": round(float(knn), 4),
            "n": 2 * n}


def _rounded(p: Any) -> list[list[float]]:
    return [[round(float(v), 5) for v in row] for row in p.tolist()]


def main(argv: list[str] | None = None) -> int:
    """Run the probe's missing cuts (this shard's), then rewrite its report."""
    from benchmarks._length_gain_runs import parse_cells
    from benchmarks._meta_tasks import PROBE_TARGETS, TARGETS
    from benchmarks._tabular_policies import write_report

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cells", nargs="+", default=None, help=f"NAME@SHOTS (default: {' '.join(CELLS)})")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--strategies", nargs="+", default=None)
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--work", type=Path, default=None, help=f"sources folder's parent (default {META_WORK})")
    p.add_argument("--shard", default=None, help="I/N: run every N-th cut from the I-th")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--report-only", action="store_true")
    p.add_argument("--note", default="")
    p.add_argument("--situations-check", action="store_true",
                   help="run the auto benchmark's tabular situations (a check, into situations-check/)")
    a = p.parse_args(argv)
    check = a.situations_check
    if check and (a.cells or a.quick):
        p.error("--situations-check runs the auto benchmark's tabular situations: give no --cells or --quick")
    try:
        folder = output_folder("tabular_ensemble_probe", a.quick, a.out)
        if check and a.out is None:
            folder = folder / "situations-check"
        cells = situation_cells() if check else parse_cells(list(a.cells or (QUICK_CELLS if a.quick else CELLS)),
                                                            [*TARGETS, *PROBE_TARGETS])
        shard = parse_shard(a.shard) if a.shard else (0, 1)
    except ValueError as exc:
        p.error(str(exc))
    if not check and any(c.target.family == HELD_OUT for c in cells):
        p.error(f"--cells: the {HELD_OUT} family is the auto benchmark's situation; the probe leaves it out")
    if a.threads:
        import torch

        torch.set_num_threads(a.threads)
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "cells.jsonl"
    done = {(r["task"], r["shots"], r["seed"]) for r in _rows(log)}
    work = a.work or (folder / "work" if a.quick else AUTO_WORK if check else META_WORK)
    todo = [(c, s) for c in cells for s in a.seeds if (c.target.name, c.shots, s) not in done]
    todo = [(c, s) for c, s in todo if in_shard(f"{c.name}/{s}", shard)]
    if todo and not a.report_only:
        priors = cell_priors([c for c, _ in todo], folder / "work" / "priors", a.quick, None if check else HELD_OUT)
        strategies = list(QUICK_STRATEGIES) if a.quick and not a.strategies else a.strategies
        for cell, seed in todo:
            _log(f"{cell.name} seed {seed}")
            row = probe_cell(cell, seed, priors[cell.target.family], work, a.quick, strategies)
            with log.open("a") as f:
                f.write(json.dumps(row) + "\n")
    if not log.is_file():
        p.error(f"no cuts in {folder}: run without --report-only first")
    command = " ".join(["python -m benchmarks.tabular_ensemble_probe", *(argv if argv is not None else sys.argv[1:])])
    print(f"wrote {write_report(log, command, a.note)}")
    return 0


def situation_cells() -> list[Any]:
    """The auto benchmark's tabular situations as cells, each from its main source."""
    from benchmarks._auto_situations import SITUATIONS
    from benchmarks._length_gain_runs import Cell
    from benchmarks._meta_tasks import Target
    from warmstart.tasks._builtin import builtin_modality

    return [Cell(Target(s.task, s.family, s.baseline_source, s.baseline_source), s.shots)
            for s in SITUATIONS if builtin_modality(s.task) == "tabular"]


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.is_file() else []


if __name__ == "__main__":
    sys.exit(main())
