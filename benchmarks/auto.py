"""``warmstart auto`` against the best single strategy for each situation, in the same run.

Situations (as issue 8 names them):

1. ``digits`` with 5 labels per class; sources: the ``mnist5k`` checkpoint and the
   ``mnist5k`` source task. Baseline: the best 5-shot strategy of the few-shot
   benchmark (``--baseline-fewshot``), defaults as set in code, from the mnist5k checkpoint.
2. ``mnist5k-b-rotated`` with 10 labels per class; sources: the ``mnist5k-a`` and
   ``digits`` source tasks. Baseline: the same strategy from the ``mnist5k-a`` checkpoint.
3. ``digits`` with no labels (unlabelled pool only); source task ``mnist5k``.
   Baseline: the best domain-adaptation method of its benchmark (``--baseline-da``).

Each auto run has its own empty knowledge base (no warm start from the other seeds),
``--budget`` of search, then retrains its winner. Test accuracy (labels read only to
report), mean ± std over seeds, paired difference auto − baseline with a 95% CI, time.

Usage:
    python -m benchmarks.auto --budget 5m          # the issue's setting
    python -m benchmarks.auto --quick              # seconds → benchmarks/results/auto/quick/ (git-ignored)

Exit code 1 when a sanity check fails (see :func:`sanity_checks`).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._report import Checks, markdown_table, mean_std, output_folder, paired_ci, provenance, write_csv
from warmstart._atomic import write_text_atomic


def situations(quick: bool, fewshot: str, da: str) -> list[dict[str, Any]]:
    """The benchmark's situations (tiny data and settings in quick mode)."""
    s = [
        {"name": "digits-5shot", "task": "digits", "shots": 5, "sources": ["mnist5k"], "source_tasks": ["mnist5k"],
         "baseline": fewshot, "baseline_source": "mnist5k"},
        {"name": "mnist5k-b-rotated-10shot", "task": "mnist5k-b-rotated", "shots": 10, "sources": [],
         "source_tasks": ["mnist5k-a", "digits"], "baseline": fewshot, "baseline_source": "mnist5k-a"},
        {"name": "digits-unlabelled", "task": "digits", "shots": 0, "sources": [], "source_tasks": ["mnist5k"],
         "baseline": da, "baseline_source": "mnist5k"},
    ]
    return s[:1] if quick else s


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every situation and seed in a temporary folder (removed); one row per run."""
    work = Path(tempfile.mkdtemp(prefix="bench-auto-"))
    try:
        return _run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run(args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    from warmstart.auto import auto
    from warmstart.engine.config import TrainConfig
    from warmstart.pretraining import pretrain_supervised
    from warmstart.source import Source
    from warmstart.tasks import get_task
    from warmstart.transfer import transfer

    ckpts: dict[str, Path] = {}
    rows: list[dict[str, Any]] = []
    fast = {"epochs": 1, "min_steps": 4} if args.quick else {}
    for sit in situations(args.quick, args.baseline_fewshot, args.baseline_da):
        for name in {*sit["sources"], sit["baseline_source"]}:
            if name not in ckpts:
                ckpts[name] = work / f"src-{name}"
                task = get_task(name)
                if args.quick:  # 1,500 images, 2 epochs: seconds, well above chance
                    task = task.replace(x_train=task.x_train[:1500], y_train=task.y_train[:1500])
                pretrain_supervised(task, ckpts[name], config=TrainConfig(
                    epochs=2 if args.quick else args.pretrain_epochs, lr=3e-3, augment="light", progress=False,
                    seed=0))
        for seed in args.seeds:
            t0 = time.perf_counter()
            res = auto(sit["task"], budget=args.budget, sources=[ckpts[n] for n in sit["sources"]],
                       source_tasks=sit["source_tasks"], storage=str(work / f"kb-{sit['name']}-{seed}.db"),
                       shots=sit["shots"], seed=seed, out=work / f"run-{sit['name']}-{seed}", progress=False,
                       params=fast, strategies=["finetune", "linear_probe"] if args.quick else None)
            auto_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            src = Source(path=ckpts[sit["baseline_source"]], task_name=sit["baseline_source"], seed=seed)
            base = transfer(sit["task"], sit["baseline"], source=src, shots=sit["shots"], seed=seed,
                            params=fast if sit["baseline"] in ("finetune", "linear_probe", "l2sp") else {},
                            progress=False)
            base_s = time.perf_counter() - t0
            rows.append({"situation": sit["name"], "seed": seed, "auto_accuracy": res["winner"]["test"]["accuracy"],
                         "auto_winner": f"{res['winner']['strategy']} from {Path(res['winner']['source']).name}",
                         "auto_trials": len(res["trials"]),
                         "auto_seconds": auto_s, "baseline": sit["baseline"],
                         "baseline_accuracy": base["test"]["accuracy"], "baseline_seconds": base_s})
            print(f"{sit['name']} seed {seed}: auto {rows[-1]['auto_accuracy']:.4f} ({rows[-1]['auto_winner']}) "
                  f"vs {sit['baseline']} {rows[-1]['baseline_accuracy']:.4f}", file=sys.stderr)
            del res
    return rows


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per situation: means, stds, paired difference with CI, verdict."""
    out = []
    for name in dict.fromkeys(r["situation"] for r in rows):
        rs = [r for r in rows if r["situation"] == name]
        a = [r["auto_accuracy"] for r in rs]
        b = [r["baseline_accuracy"] for r in rs]
        (am, asd), (bm, bsd) = mean_std(a), mean_std(b)
        d, lo, hi = paired_ci(a, b)
        out.append({"situation": name, "auto": f"{am:.4f} ± {asd:.4f}", "baseline": rs[0]["baseline"],
                    "baseline acc": f"{bm:.4f} ± {bsd:.4f}", "auto − baseline": f"{d:+.4f} [{lo:+.4f}, {hi:+.4f}]",
                    "matches or beats": "yes" if am >= bm - 1e-9 else "no",
                    "auto s": f"{sum(r['auto_seconds'] for r in rs) / len(rs):.0f}",
                    "baseline s": f"{sum(r['baseline_seconds'] for r in rs) / len(rs):.0f}",
                    "winners": "; ".join(sorted({r['auto_winner'] for r in rs}))})
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; write README.md, CSV to ``--out``."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="one situation, one seed, 2 trials, tiny training")
    p.add_argument("--budget", default="5m", help="auto's search budget per run (trials or wall time)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--pretrain-epochs", type=int, default=10)
    p.add_argument("--baseline-fewshot", default="finetune", help="best few-shot strategy (fewshot benchmark)")
    p.add_argument("--baseline-da", default="dann", help="best domain-adaptation method (its benchmark)")
    p.add_argument("--out", type=Path, default=None,
                   help="results folder (default benchmarks/results/auto/, with --quick its quick/)")
    args = p.parse_args(argv)
    try:
        args.out = output_folder("auto", args.quick, args.out)
    except ValueError as exc:
        p.error(str(exc))
    if args.quick:
        args.budget, args.seeds = "2", [0]
    t0 = time.perf_counter()
    rows = run(args)
    table = summarize(rows)
    checks = sanity_checks(rows, args.budget)
    cmd = "python -m benchmarks.auto " + " ".join(argv if argv is not None else sys.argv[1:])
    text = ("# auto vs the best single strategy\n\n" + markdown_table(table) + "\n## Per seed\n\n"
            + markdown_table(rows) + "\n" + checks.markdown() + "\n"
            + provenance(cmd, args.seeds, f"auto budget {args.budget} per run; source pretraining "
                         f"{'2 epochs on 1,500 images' if args.quick else f'{args.pretrain_epochs} epochs'}; "
                         f"total {time.perf_counter() - t0:.0f}s") + "\n")
    args.out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.out / "README.md", text)
    write_csv(args.out / "auto.csv", rows)
    print(markdown_table(table))
    return checks.exit_code()


def sanity_checks(rows: list[dict[str, Any]], budget: str, n_classes: int = 10) -> Checks:
    """What must hold at any budget: a trial budget is run exactly; auto's winner scores above chance
    (1/n_classes + 0.05) in every run; every accuracy is in [0, 1]. (Whether auto matches the baseline
    is the benchmark's result, not a check: at ``--quick`` budgets the baseline may sit at chance.)"""
    checks = Checks()
    if budget.isdigit():
        trials = [int(r["auto_trials"]) for r in rows]
        checks.add(f"auto ran its budget of {budget} trials", set(trials) == {int(budget)}, f"trials {trials}")
    auto_acc = [float(r["auto_accuracy"]) for r in rows]
    checks.add("auto above chance in every run", all(1 / n_classes + 0.05 <= a <= 1.0 for a in auto_acc),
               ", ".join(f"{a:.3f}" for a in auto_acc))
    base = [float(r["baseline_accuracy"]) for r in rows]
    checks.add("baseline accuracies in [0, 1]", all(0.0 <= a <= 1.0 for a in base),
               ", ".join(f"{a:.3f}" for a in base))
    return checks


if __name__ == "__main__":
    sys.exit(main())
