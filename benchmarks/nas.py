"""NAS benchmark: architecture search from a pretrained model (weight inheritance) vs from scratch.

Source: a smallcnn pretrained here on ``mnist5k-a``. Targets: ``digits`` and
``mnist5k-b-rotated`` with 10 labelled images per class in total (each candidate is
scored by stratified 3-fold CV on those 10, the protocol every search uses). For every target, seed and
strategy (random, evolution, tpe, rl, darts, nsga2) the same wall-time budget is
given twice: candidates inheriting the source weights, and the same space with
random initialization (scratch). Recorded: best-so-far validation accuracy against
wall time, the test accuracy of each final architecture after fine-tuning
(``finetune``, outside the budget, timed separately), and the nsga2 Pareto front
(validation accuracy vs measured CPU latency).

Every search with inheritance runs as ``warmstart search`` does by default: its first trial is
the baseline, the unchanged source fine-tuned with ``l2sp`` at its defaults and scored by the
same validation protocol, and the final model is the baseline unless a candidate beats it on
validation (ties go to the baseline). The scratch searches have no baseline. The budget, 20 s
of wall time per search by default, includes the baseline trial and excludes the final training.

Targets checked: (1) with inheritance the architecture candidates reach the final validation
accuracy of the best from-scratch search (over strategies, same target and seed) within a
fifth of that search's wall time (candidates' time: the baseline trial's time left out);
(2) evolution with inheritance ends at least as accurate as random with inheritance at equal
budget; (3) each inheriting search's final model against ``l2sp`` at its defaults from the
same source on the same support set and seed, run once as ``warmstart transfer --strategy
l2sp`` runs it (one fit on every label, no validation): test accuracy and the wall time of
each (the search: its budget plus its final training). ``--quick`` gives the baseline and that
l2sp run 1 epoch of at least 10 steps instead of the defaults.

Usage:
    WARMSTART_THREADS=1 python -m benchmarks.nas          # full run → benchmarks/results/nas/
    python -m benchmarks.nas --quick    # seconds → benchmarks/results/nas/quick/ (git-ignored), never resumed

Exit code 1 when a sanity check fails (see :func:`sanity_checks`).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._nas_report import (
    BASELINE,
    SHOTS,
    STRATEGIES,
    TARGETS,
    l2sp_summary,
    l2sp_table,
    plot,
    summary,
    targets_table,
)
from benchmarks._report import Checks, markdown_table, mean_std, output_folder, provenance, write_csv
from warmstart._atomic import write_text_atomic

QUICK_L2SP = {"epochs": 1, "min_steps": 10}  # --quick: the baseline's and the l2sp run's settings (else defaults)


def pretrain_source(out: Path, quick: bool) -> Path:
    """smallcnn (16, 32, 64) on mnist5k-a (quick: 1,500 images, 2 epochs: seconds, well above chance)."""
    from warmstart._paths import cache_dir
    from warmstart.engine import TrainConfig
    from warmstart.pretraining import pretrain_supervised
    from warmstart.tasks import get_task

    path = (out if quick else cache_dir() / "benchmarks") / "nas-source-mnist5k-a"  # weights stay out of results/
    if (path / "meta.json").exists():
        return path
    task = get_task("mnist5k-a")
    if quick:
        task = task.replace(x_train=task.x_train[:1500], y_train=task.y_train[:1500])
    cfg = TrainConfig(epochs=2 if quick else 8, lr=3e-3, batch_size=64, augment="light", progress=False, seed=0)
    pretrain_supervised(task, path, config=cfg, widths=(16, 32, 64))
    return path


def l2sp_run(task: Any, source: Path, seed: int, params: dict[str, Any]) -> dict[str, Any]:
    """``l2sp`` from ``source`` on the support set, as ``warmstart transfer --strategy l2sp`` runs it; timed."""
    from warmstart.recipe import Recipe, run_recipe

    t0 = time.perf_counter()
    res = run_recipe(task, Recipe(BASELINE, params, source=str(source), shots=SHOTS, seed=seed), validation="none")
    return {"target": task.name, "seed": seed, "test_acc": res.test["accuracy"], "wall_s": time.perf_counter() - t0}


def search_row(r: dict[str, Any], target: str, strategy: str, init: str, seed: int, wall: float) -> dict[str, Any]:
    """One search's row: the best candidate's validation accuracy, the final model's, and which won."""
    choice = r["final_choice"]
    cand = choice["candidate"]
    return {"target": target, "strategy": strategy, "init": init, "seed": seed, "trials": r["n_trials"],
            "search_s": r["search_seconds"], "final_train_s": r["final_seconds"],
            "best_val_acc": cand["val_accuracy"] if cand else float("nan"), "final_val_acc": r["val_accuracy"],
            "winner": choice["winner"], "baseline_val_acc": (r["baseline"] or {}).get("val_accuracy"),
            "baseline_s": (r["baseline"] or {}).get("seconds"), "test_acc": r["test"]["accuracy"],
            "latency_ms": r["latency_ms"], "params_m": r["params_m"],
            "arch": json.dumps(r["architecture"]["resolved"]), "wall_s": wall}


def candidate_curve(r: dict[str, Any], key: dict[str, Any]) -> list[dict[str, Any]]:
    """The candidates' best-so-far validation accuracy against candidates' time (the baseline trial left out)."""
    rows = r["timeline"]
    offset = max([row["seconds"] for row in rows if row["baseline"]], default=0.0)
    best, out = -1.0, []
    for row in rows:
        if row["baseline"]:
            continue
        best = max(best, row["val_accuracy"])
        out.append({**key, "seconds": row["seconds"] - offset, "val_acc": row["val_accuracy"],
                    "best_val_acc": best, "latency_ms": row["latency_ms"]})
    return out


def run(args: argparse.Namespace) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]],
                                           list[dict[str, Any]]]:
    from warmstart.search.nas import search_architecture
    from warmstart.tasks import get_task

    source = pretrain_source(args.out, args.quick)
    l2sp_params = dict(QUICK_L2SP) if args.quick else {}
    rows: list[dict[str, Any]] = []
    curves: list[dict[str, Any]] = []
    fronts: list[dict[str, Any]] = []
    refs: list[dict[str, Any]] = []
    log = args.out / "runs.jsonl"  # one line per finished search or l2sp run: an interrupted run resumes from it
    done: set[tuple[str, int, str, str]] = set()
    if log.exists():
        for line in log.read_text().splitlines():
            rec = json.loads(line)
            old = "row" in rec and "winner" not in rec["row"]  # written before searches had a baseline trial
            if rec["budget"] != str(args.budget) or rec["epochs"] != args.epochs or old:
                continue
            if "l2sp" in rec:
                refs.append(rec["l2sp"])
                continue
            rows.append(rec["row"])
            curves += rec["curves"]
            fronts += rec["fronts"]
            done.add((rec["row"]["target"], rec["row"]["seed"], rec["row"]["strategy"], rec["row"]["init"]))

    def append(rec: dict[str, Any]) -> None:
        with open(log, "a", encoding="utf-8") as fh:  # append-only log, one JSON object a line
            fh.write(json.dumps({"budget": str(args.budget), "epochs": args.epochs, **rec}) + "\n")

    transfer = {"epochs": 5, "min_steps": 20 if not args.quick else 2}
    # warm-up (untimed, discarded): imports, first-call allocations and kernels, so the first timed
    # search does not pay one-off start-up costs that later ones do not
    if not args.quick:
        with tempfile.TemporaryDirectory(prefix="nas-bench-") as tmp:
            search_architecture(get_task(args.targets[0]).few_shot(SHOTS, seed=0), source, strategy="random",
                                budget=1, epochs=1, transfer_strategy=None, baseline_params=QUICK_L2SP,
                                storage=Path(tmp) / "kb.db", run_dir=tmp)
    for target in args.targets:
        full = get_task(target)
        for seed in args.seeds:
            task = full.few_shot(SHOTS, seed=seed)
            if not any(x["target"] == target and x["seed"] == seed for x in refs):
                refs.append(l2sp_run(task, source, seed, l2sp_params))
                append({"l2sp": refs[-1]})
            for strategy in args.strategies:
                for inherit in (True, False):
                    if (target, seed, strategy, "inherit" if inherit else "scratch") in done:
                        continue
                    objective = "accuracy,latency" if strategy == "nsga2" else "accuracy"
                    t0 = time.perf_counter()
                    # every search is a fresh study (its own knowledge base): seeds share a task key
                    with tempfile.TemporaryDirectory(prefix="nas-bench-") as tmp:
                        r = search_architecture(task, source, strategy=strategy, budget=args.budget,
                                                objective=objective, inherit=inherit, seed=seed,
                                                epochs=args.epochs, transfer_strategy="finetune",
                                                transfer_params=transfer, baseline=BASELINE,
                                                baseline_params=l2sp_params, storage=Path(tmp) / "kb.db",
                                                run_dir=tmp)
                    init = "inherit" if inherit else "scratch"
                    n_curves, n_fronts = len(curves), len(fronts)
                    rows.append(search_row(r, target, strategy, init, seed, time.perf_counter() - t0))
                    curves += candidate_curve(r, {"target": target, "strategy": strategy, "init": init, "seed": seed})
                    for p in r["pareto_front"]:
                        fronts.append({"target": target, "init": init, "seed": seed, "trial": p["trial"],
                                       "val_acc": p["val_accuracy"], "latency_ms": p["latency"]})
                    append({"row": rows[-1], "curves": curves[n_curves:], "fronts": fronts[n_fronts:]})
                    print(f"{target} seed {seed} {strategy:9s} {init}: {r['n_trials']} trials, final "
                          f"{r['final_choice']['winner']} val {r['val_accuracy']:.3f}, test "
                          f"{r['test']['accuracy']:.3f}", file=sys.stderr, flush=True)
    return rows, curves, fronts, refs


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="seconds: one target, one seed, random search with and without "
                   "inherited weights")
    p.add_argument("--out", type=Path, default=None,
                   help="results folder (default benchmarks/results/nas/, with --quick its quick/)")
    p.add_argument("--budget", default=None, help="per search, the baseline trial included (default 20s; quick: 2 "
                   "candidate trials)")
    p.add_argument("--seeds", type=int, nargs="+", default=None)
    p.add_argument("--strategies", nargs="+", default=None)
    p.add_argument("--targets", nargs="+", default=None)
    p.add_argument("--epochs", type=int, default=None, help="training epochs of each candidate")
    args = p.parse_args(argv)
    try:
        args.out = output_folder("nas", args.quick, args.out)
    except ValueError as exc:
        p.error(str(exc))
    args.budget = args.budget or ("2" if args.quick else "20s")
    args.seeds = args.seeds or ([0] if args.quick else [0, 1, 2])
    args.strategies = args.strategies or (["random"] if args.quick else STRATEGIES)
    args.targets = args.targets or (["digits"] if args.quick else TARGETS)
    args.epochs = args.epochs or (2 if args.quick else 8)
    os.environ.setdefault("WARMSTART_NO_PROGRESS", "1")
    from warmstart.engine.device import configure_threads

    configure_threads(int(os.environ.get("WARMSTART_THREADS", "1")))  # tiny models: one thread is fastest
    args.out.mkdir(parents=True, exist_ok=True)
    if args.quick:  # a quick run starts over: its resume log is only for long runs
        (args.out / "runs.jsonl").unlink(missing_ok=True)
    t0 = time.perf_counter()
    rows, curves, fronts, refs = run(args)
    checks, evo = targets_table(rows, curves)
    vs_l2sp = l2sp_table(rows, refs)
    write_csv(args.out / "runs.csv", rows)
    if vs_l2sp:
        write_csv(args.out / "vs_l2sp.csv", vs_l2sp)
    write_csv(args.out / "curves.csv", curves)
    if fronts:
        write_csv(args.out / "pareto.csv", fronts)
    if checks:
        write_csv(args.out / "targets.csv", checks)
    from warmstart.search.budget import Budget

    bud = Budget.parse(args.budget)
    plot(curves, fronts, bud.seconds or max(c["seconds"] for c in curves), args.out / "nas.png")
    met = [c["met_1/5"] for c in checks]
    sanity = sanity_checks(rows, curves, args, refs)
    l2sp_set = "1 epoch of at least 10 steps (--quick)" if args.quick else "its defaults"
    lines = ["# NAS with weight inheritance vs from scratch, and against l2sp", "",
             f"Source: smallcnn (16, 32, 64) pretrained on mnist5k-a. Targets {', '.join(args.targets)} with "
             f"{SHOTS} labels per class (each candidate scored by stratified 3-fold CV on them). Budget per "
             f"search: {bud} ({'candidate trials' if bud.trials else 'wall time, the baseline trial included'}), "
             f"equal for every strategy and initialization; each candidate trains {args.epochs} epochs (AdamW "
             "3e-3, batch 32) on cached frozen features. Searches with inheritance first score the baseline: the "
             f"unchanged source fine-tuned with {BASELINE} at {l2sp_set}, by the same CV; the final model is the "
             "baseline unless a candidate beats it on validation (ties go to the baseline). The final model is "
             "trained outside the budget (`final train s`): a winning architecture fine-tuned (finetune, 5 "
             "epochs, at least 20 steps), a kept baseline its own recipe on every label. Test accuracy is on the "
             "task's test split (read only to report).", "",
             "## Summary (mean ± std over seeds)", "", markdown_table(summary(rows)),
             "## Target 1: inheritance reaches the best scratch search's final validation accuracy in <= 1/5 of "
             "its wall time", "",
             "Architecture candidates only: the baseline trial and its time are left out of the inheriting "
             "searches' curves.", "",
             f"Met in {sum(met)}/{len(met)} (target, seed, inheriting strategy) cases; median time ratio "
             f"{np.median([c['ratio'] for c in checks]) if checks else float('nan'):.3f}.", "",
             markdown_table(checks), "## Target 2: evolution + inheritance vs random + inheritance (equal budget)", ""]
    for target, d in evo.items():
        lines.append(f"- {target}: test {d['evolution_test'][0]:.3f} ± {d['evolution_test'][1]:.3f} (evolution) vs "
                     f"{d['random_test'][0]:.3f} ± {d['random_test'][1]:.3f} (random); best validation "
                     f"{d['evolution_val'][0]:.3f} vs {d['random_val'][0]:.3f} → "
                     f"{'met' if d['evolution_test'][0] >= d['random_test'][0] else 'missed'} on test")
    if not evo:
        lines.append(f"- not measured: it needs both random and evolution among the strategies run "
                     f"({', '.join(args.strategies)})")
    lines += ["", f"## Target 3: the search's final model vs {BASELINE} at {l2sp_set} (same source, support set "
              "and seed)", "", l2sp_summary(vs_l2sp, bud), "", markdown_table(vs_l2sp) if vs_l2sp else "",
              "![curves and Pareto front](nas.png)", "", sanity.markdown(), "## Provenance", "",
              provenance("WARMSTART_THREADS=1 python -m benchmarks.nas " + " ".join(argv or sys.argv[1:]), args.seeds,
                         f"total wall time {time.perf_counter() - t0:.0f} s on a shared machine"), ""]
    write_text_atomic(args.out / "README.md", "\n".join(lines))
    print(f"wrote {args.out}", file=sys.stderr)
    return sanity.exit_code()


def sanity_checks(rows: list[dict[str, Any]], curves: list[dict[str, Any]], args: argparse.Namespace,
                  refs: list[dict[str, Any]] | None = None) -> Checks:
    """What must hold at any budget (targets 1 and 2 are goals, reported whether met or not).

    Every (target, seed, strategy, init) searched once; with a trial budget every search ran exactly
    that many candidate trials; every inheriting search scored its baseline trial and ended at least
    as high on validation, and one that kept its baseline ended with exactly the test accuracy of the
    l2sp run (the same recipe, support set and seed: the same model); accuracies in [0, 1]; every
    best-so-far curve is non-decreasing; and, per
    target and seed, the final models found with inheritance are on average (over strategies) at
    least as accurate on the test split as those found from scratch (equal budgets; the candidates
    start from the pretrained source instead of random weights). Test, not validation, accuracy:
    at ``--quick`` budgets candidates train 2 epochs and are scored by 3-fold CV on 100 labels, so
    validation accuracies tie or swap by a few images; the final fine-tuned models differ clearly.
    """
    from warmstart.search.budget import Budget

    checks = Checks()
    keys = [(r["target"], r["seed"], r["strategy"], r["init"]) for r in rows]
    expected = len(args.targets) * len(args.seeds) * len(args.strategies) * 2
    checks.add("each (target, seed, strategy, init) searched once", len(set(keys)) == len(keys) == expected,
               f"{len(set(keys))} distinct of {len(keys)}, {expected} expected")
    bud = Budget.parse(args.budget)
    if bud.trials:
        trials = sorted({int(r["trials"]) for r in rows})
        checks.add(f"every search ran its {bud.trials} trials", trials == [bud.trials], f"trials {trials}")
    inherit = [r for r in rows if r["init"] == "inherit"]
    floor = [r for r in inherit if r["baseline_val_acc"] is None or r["final_val_acc"] < r["baseline_val_acc"]]
    checks.add("every inheriting search scored its baseline and ended at least as high on validation", not floor,
               f"{len(floor)} of {len(inherit)} not")
    if refs is not None:
        ref = {(x["target"], x["seed"]): x["test_acc"] for x in refs}
        kept = [r for r in inherit if r["winner"] == "baseline"]
        off = [r for r in kept if abs(r["test_acc"] - ref.get((r["target"], r["seed"]), -1.0)) > 1e-6]
        checks.add(f"a kept baseline is the {BASELINE} run's model (same test accuracy)", not off,
                   f"{len(off)} of {len(kept)} differ")
    accs = [float(r[k]) for r in rows for k in ("final_val_acc", "test_acc")]
    checks.add("every accuracy in [0, 1]", all(0.0 <= a <= 1.0 for a in accs), f"{min(accs):.3f}..{max(accs):.3f}")
    rising = 0
    for key in {(c["target"], c["seed"], c["strategy"], c["init"]) for c in curves}:
        best = [c["best_val_acc"] for c in curves if (c["target"], c["seed"], c["strategy"], c["init"]) == key]
        rising += int(any(b < a - 1e-12 for a, b in itertools.pairwise(best)))
    checks.add("every best-so-far curve is non-decreasing", rising == 0, f"{rising} decrease")
    for target, seed in sorted({(r["target"], r["seed"]) for r in rows}):
        mean = {init: mean_std([float(r["test_acc"]) for r in rows
                                if (r["target"], r["seed"], r["init"]) == (target, seed, init)] or [float("nan")])[0]
                for init in ("inherit", "scratch")}
        checks.add(f"{target} seed {seed}: inheritance >= scratch (mean test accuracy of the final models)",
                   mean["inherit"] >= mean["scratch"] - 1e-9,
                   f"inherit {mean['inherit']:.3f} vs scratch {mean['scratch']:.3f}")
    return checks


if __name__ == "__main__":
    raise SystemExit(main())
