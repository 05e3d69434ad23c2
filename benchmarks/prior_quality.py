"""How good is the learned prior? Leave-one-family-out on the meta-dataset, and a learning curve.

For each task family F of the meta-dataset (:mod:`benchmarks._meta_tasks`), a prior is fitted
(:func:`warmstart.knowledge.prior.fit_prior`, target ``test_accuracy``) on the rows of every other
family only, and asked about every (task, shots, seed) cell of F, among the recipes that cell ran
(real runs, scored afterwards: no training happens here). Per cell:

* ``oracle``: the best test accuracy among the cell's recipes (needs test labels; reference only);
* ``prior top-1``: the prior's first pick (cost-aware utility, :meth:`Prior.suggest`);
* ``prior top-3 → val``: the first three picks run, the one with the best validation score kept
  (what ``auto``'s first three trials give; in cells without labels the validation score is a
  label-free score on another scale per strategy, so the top-1 pick is kept there);
* ``prior top-3 → shrinkage``: the same three, kept by :meth:`Prior.final_scores` (validation
  score shrunk toward the prior's prediction; labelled cells);
* ``prior top-3 → one-SE``: the same three and posteriors, but among those whose expected score is
  within one posterior standard deviation of the best, the one the prior ranked first (the
  one-standard-error rule, with the prior's order as the tie-break that validation noise cannot
  overturn);
* ``prior top-3 → one-SE by prediction``: the same, but the one of them with the best prediction;
* ``best default``: the strategy at its defaults with the best mean test accuracy over the training
  families' cells with the same shots (the best single strategy picked in hindsight on other tasks);
* ``mean recipe``: the mean over the cell's recipes (what a random pick gives on average).

Regret is oracle − method. The learning curve refits the prior on 25 %, 50 % and 100 % of the
training tasks (random subsets, 3 draws) and reports the top-1 and top-3 → val regret.

This measures the prior on the meta-dataset's own runs; ``benchmarks/auto.py`` measures ``auto``
with the prior end to end on new runs.

Usage:
    python -m benchmarks.prior_quality            # → benchmarks/results/prior_quality/
    python -m benchmarks.prior_quality --quick    # seconds → benchmarks/results/prior_quality/quick/
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from benchmarks._prior_rows import TABLE, cell_key, read_rows
from benchmarks._report import Checks, markdown_table, output_folder, provenance, write_csv
from warmstart._atomic import write_text_atomic

FRACTIONS = (0.25, 0.5, 1.0)
DRAWS = 3
METHODS = ("prior top-1", "prior top-3 → val", "prior top-3 → shrinkage", "prior top-3 → one-SE",
           "prior top-3 → one-SE by prediction", "best default", "mean recipe")


def situation(row: dict[str, Any]) -> dict[str, Any]:
    """What the prior may know of a cell before training: meta-features, shots, the source's scores."""
    keep = {k: v for k, v in row.items() if k.startswith("mf_") and isinstance(v, float)}
    keep.update({k: row[k] for k in ("logme", "leep", "tf_gap") if isinstance(row.get(k), float)})
    keep["shots"] = int(row.get("shots") or 0)
    return keep


def support_size(row: dict[str, Any]) -> int:
    """The labels of a meta-dataset row's support set: shots × classes (from ``mf_log_n_classes``, at least 2)."""
    return int(row.get("shots") or 0) * max(2, round(math.exp(float(row.get("mf_log_n_classes") or 0.0))))


def best_defaults(rows: list[dict[str, Any]]) -> dict[int, list[str]]:
    """Per shots level: the ``#default`` members, best mean test accuracy first, over ``rows``."""
    acc: dict[tuple[int, str], list[float]] = defaultdict(list)
    for r in rows:
        member = str(r.get("member") or "")
        if member.endswith("#default") and isinstance(r.get("test_accuracy"), float):
            acc[(int(r.get("shots") or 0), member)].append(r["test_accuracy"])
    out: dict[int, list[str]] = defaultdict(list)
    for (shots, member), _vals in sorted(acc.items(), key=lambda kv: -statistics.fmean(kv[1])):
        out[shots].append(member)
    return out


def score_cell(prior: Any, cell: list[dict[str, Any]], defaults: dict[int, list[str]]) -> dict[str, float] | None:
    """Every method's test accuracy on one cell (None when the cell ran fewer than two recipes)."""
    from warmstart.knowledge._prior_table import RecipeSpec
    from warmstart.knowledge.prior import Observed

    rows = [r for r in cell if isinstance(r.get("test_accuracy"), float)]
    if len(rows) < 2:
        return None
    by_key = {RecipeSpec.of(r).key(): r for r in rows}
    sit = situation(rows[0])
    picks = prior.suggest(sit, k=3, candidates=[RecipeSpec.of(r) for r in by_key.values()])
    chosen = [by_key[p.spec.key()] for p in picks]
    labelled = sit["shots"] > 0 and all(isinstance(r.get("score"), float) for r in chosen)
    top3_val = max(chosen, key=lambda r: r["score"]) if labelled else chosen[0]
    if labelled and len(chosen) > 1:
        n = support_size(rows[0])  # the labels behind the validation score (k-fold over the support set)
        finals = prior.final_scores([Observed(RecipeSpec.of(r), r["score"]) for r in chosen], sit, n_examples=n)
        shrunk = chosen[finals[0].index]
        floor = finals[0].expected - finals[0].posterior.std  # within one SE of the best: the prior's order
        near = [f for f in finals if f.expected >= floor]
        ordered = chosen[min(f.index for f in near)]
        predicted = chosen[max(near, key=lambda f: f.predicted).index]
    else:
        shrunk = ordered = predicted = top3_val
    members = {str(r.get("member")): r for r in rows}
    default = next((members[m] for m in defaults.get(sit["shots"], []) if m in members), None)
    accs = [r["test_accuracy"] for r in rows]
    out = {"oracle": max(accs), "prior top-1": chosen[0]["test_accuracy"],
           "prior top-3 → val": top3_val["test_accuracy"],
           "prior top-3 → shrinkage": shrunk["test_accuracy"], "prior top-3 → one-SE": ordered["test_accuracy"],
           "prior top-3 → one-SE by prediction": predicted["test_accuracy"],
           "mean recipe": statistics.fmean(accs)}
    if default is not None:
        out["best default"] = default["test_accuracy"]
    return out


def evaluate(train: list[dict[str, Any]], test: list[dict[str, Any]], seed: int = 0,
             ranker: str = "blend") -> list[dict[str, Any]]:
    """Fit on ``train`` (the ranker's model ``ranker``), score every cell of ``test``; one dict per cell (empty when
    no prior can be fitted)."""
    from warmstart.errors import DataError
    from warmstart.knowledge.prior import PriorConfig, fit_prior

    try:  # curves dropped: the gray-box model is not what is measured here, and it is the slow part of a fit
        prior = fit_prior([{**r, "curve": None} for r in train], target="test_accuracy",
                          config=PriorConfig(seed=seed, ranker=ranker))
    except DataError:
        return []
    defaults = best_defaults(train)
    cells: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for r in test:
        cells[cell_key(r)].append(r)
    out = []
    for (task, seed_), cell in sorted(cells.items()):
        scored = score_cell(prior, cell, defaults)
        if scored is not None:
            out.append({"task": task, "seed": seed_, "shots": int(cell[0].get("shots") or 0),
                        "family": cell[0].get("family"), **scored})
    return out


def regret_rows(cells: list[dict[str, Any]], group: str) -> list[dict[str, Any]]:
    """Mean test accuracy and regret (oracle − method) per value of ``group`` and overall."""
    out = []
    for g in [*sorted({str(c[group]) for c in cells}), "all"]:
        sel = [c for c in cells if g == "all" or str(c[group]) == g]
        row: dict[str, Any] = {group: g, "cells": len(sel), "oracle": statistics.fmean(c["oracle"] for c in sel)}
        for m in METHODS:
            vals = [c["oracle"] - c[m] for c in sel if m in c]
            row[f"regret {m}"] = statistics.fmean(vals) if vals else float("nan")
        out.append(row)
    return out


def ranker_rows(rows: list[dict[str, Any]], families: list[str], default: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Top-1 and top-3 → shrinkage regret of each ranker model (:data:`RANKERS`), leave-one-family-out, by shots;
    ``default``: the cells already scored with the default model."""
    from warmstart.knowledge._prior_types import RANKERS, PriorConfig

    out = []
    for kind in RANKERS:
        cells = default if kind == PriorConfig().ranker else [
            c for fam in families
            for c in evaluate([r for r in rows if r.get("family") != fam], [r for r in rows if r.get("family") == fam],
                              ranker=kind)]
        for row in regret_rows(cells, "shots"):
            out.append({"ranker": kind, "shots": row["shots"], "cells": row["cells"],
                        **{k: row[k] for k in ("regret prior top-1", "regret prior top-3 → shrinkage")}})
    return out


def learning_curve(rows: list[dict[str, Any]], families: list[str], fractions: tuple[float, ...],
                   draws: int) -> list[dict[str, Any]]:
    """Mean regret over held-out families when the prior sees a fraction of the other families' tasks."""
    out = []
    for frac in fractions:
        regrets: dict[str, list[float]] = defaultdict(list)
        n_tasks = []
        for draw in range(draws if frac < 1.0 else 1):
            for fam in families:
                train_all = [r for r in rows if r.get("family") != fam]
                tasks = sorted({str(r["task"]) for r in train_all})
                keep = set(random.Random(draw).sample(tasks, max(1, round(frac * len(tasks)))))
                n_tasks.append(len(keep))
                held_out = [r for r in rows if r.get("family") == fam]
                cells = evaluate([r for r in train_all if r["task"] in keep], held_out)
                for c in cells:
                    for m in ("prior top-1", "prior top-3 → val"):
                        regrets[m].append(c["oracle"] - c[m])
        out.append({"fraction": frac, "training tasks (mean)": statistics.fmean(n_tasks) if n_tasks else 0,
                    **{f"regret {m}": statistics.fmean(v) for m, v in regrets.items()}})
    return out


def main(argv: list[str] | None = None) -> int:
    """Run it; exit 1 when a sanity check fails."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="two families, no learning curve: seconds")
    ap.add_argument("--table", type=Path, default=TABLE, help="the meta-dataset table (meta_dataset.csv)")
    ap.add_argument("--out", type=Path, default=None, help="output folder")
    args = ap.parse_args(argv)
    try:
        out = output_folder("prior_quality", args.quick, args.out)
    except ValueError as exc:
        ap.error(str(exc))
    if not args.table.is_file():
        ap.error(f"no meta-dataset table at {args.table}: build it with python -m benchmarks.meta_dataset")
    t0 = time.perf_counter()
    rows = read_rows(args.table)
    families = sorted({str(r["family"]) for r in rows if r.get("family")})
    if args.quick:
        families = families[:2]
    cells: list[dict[str, Any]] = []
    for fam in families:
        cells += evaluate([r for r in rows if r.get("family") != fam], [r for r in rows if r.get("family") == fam])
        print(f"[{time.perf_counter() - t0:.0f}s] held out {fam}: {len(cells)} cells so far", file=sys.stderr)
    models = [] if args.quick else ranker_rows(rows, families, cells)
    curve = [] if args.quick else learning_curve(rows, families, FRACTIONS, DRAWS)
    by_family, by_shots = regret_rows(cells, "family"), regret_rows(cells, "shots")
    write_csv(out / "cells.csv", cells)
    checks = Checks()
    checks.add("cells were scored", bool(cells), f"{len(cells)} cells")
    checks.add("no method beats the oracle",
               all(c["oracle"] >= c[m] - 1e-9 for c in cells for m in METHODS if m in c), "")
    cmd = "python -m benchmarks.prior_quality" + (" --quick" if args.quick else "")
    report = [
        "# Prior quality: leave-one-family-out on the meta-dataset\n",
        (__doc__ or "").split("Usage:")[0].strip() + "\n",
        f"Input: `{args.table}` ({len(rows)} completed runs, {len({r['task'] for r in rows})} task keys, "
        f"families {', '.join(families)}).\n",
        "## Regret (oracle − method, test accuracy) by held-out family\n", markdown_table(by_family),
        "## By shots\n", markdown_table(by_shots),
        "## The ranker's model\n",
        "The same cells with each model of the ranker (``PriorConfig.ranker``; the tables above use the default, "
        "``blend``): the conditional trees alone (revision 24 and before), the marginal model alone, and their "
        "equal-weight blend (:mod:`warmstart.knowledge._marginal`).\n",
        markdown_table(models) if models else "(not run with --quick)\n",
        "## Learning curve (share of the training families' tasks)\n",
        markdown_table(curve) if curve else "(not run with --quick)\n",
        checks.markdown(), "## Provenance\n",
        provenance(cmd, [0], notes=f"wall {time.perf_counter() - t0:.0f} s; no training, the meta-dataset's runs"),
    ]
    write_text_atomic(out / "README.md", "\n".join(report))
    print(markdown_table(by_family))
    return checks.exit_code()


if __name__ == "__main__":
    raise SystemExit(main())
