"""Would a fit longer than its strategy's default length score higher? A probe.

``auto``'s final fit trains its winner at the strategy's default length (:mod:`warmstart.auto.final_fit`),
and when that fits in the budget with time to spare, the rest of the budget goes unused (at 2 minutes on
``digits`` without labels, mcc's 3,000 steps take 64-70 s of the 120). Budgeted training (Li, Yumer &
Ramanan, ICLR 2020) would spend it on a longer schedule, which pays only where the score still rises past
the default length. This probe measures that, on tasks that are *not* the auto benchmark's situations
(the meta-dataset's other shifts of ``mnist5k-b``), so no design choice is made on those situations'
test labels.

Per (task, shots, seed) and strategy, fit on every label of the few-shot cut from the ``mnist5k-a``
source (``run_recipe``, ``validation="none"``, as auto's final fit): at its defaults (``1x``) and with
its step count ``--scale`` times its default (``iterations`` of the adaptation loop; the schedule spans
the longer run), test accuracy and seconds of each.

Usage:
    python -m benchmarks.longer_probe --tasks mnist5k-b-elastic mnist5k-b-blurred --shots 5 --seeds 0 1
    python -m benchmarks.longer_probe --quick      # tiny training → benchmarks/results/longer_probe/quick/
    python -m benchmarks.longer_probe --report-only  # rewrite README.md from cells.jsonl
"""

from __future__ import annotations

import functools
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks._probe import SOURCE_TASK, WORK, cut_row, probe_parser, probe_source, run_probe, write_probe_report

TITLE = "A fit longer than its default length: a probe"
STRATEGIES = ("mcc",)
QUICK_ITERATIONS = 10
SCALE = 2.0


def fit(task: Any, shots: int, seed: int, strategy: str, source: Any, scale: float,
        quick: bool) -> dict[str, Any]:
    """Test accuracy, steps and seconds of one strategy at ``scale`` times its default steps."""
    from warmstart.recipe import Recipe, run_recipe
    from warmstart.strategies import strategy_class

    table = strategy_class(strategy).param_table()
    if "iterations" not in table:
        raise SystemExit(f"error: {strategy} has no iterations parameter; the probe scales the adaptation loop's")
    base = QUICK_ITERATIONS if quick else int(table["iterations"].default)
    params: dict[str, Any] = {"iterations": max(1, round(scale * base))}
    recipe = Recipe(strategy, params, source=str(source.path), source_task=SOURCE_TASK, shots=shots, seed=seed)
    t0 = time.perf_counter()
    res = run_recipe(task, recipe, validation="none", source=source)
    return {"accuracy": float(res.test["accuracy"]), "steps": params["iterations"],
            "seconds": time.perf_counter() - t0}


def probe_cell(task_name: str, shots: int, seed: int, strategies: tuple[str, ...], scale: float, quick: bool,
               work: Path = WORK) -> dict[str, Any]:
    """Both lengths of every strategy on one cut (the default first)."""

    source = probe_source(work, seed, quick)
    runs = {f"{s} {k}": fit(task_name, shots, seed, s, source, x, quick)
            for s in strategies for k, x in (("1x", 1.0), (f"{scale:g}x", scale))}
    return cut_row(task_name, shots, seed, scale=scale, runs=runs)


def summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per strategy and scale: mean test accuracy of each length over the cuts and the mean paired difference."""
    out = []
    for s, scale in sorted({(k.split()[0], r["scale"]) for r in rows for k in r["runs"]}):
        longer = f"{s} {scale:g}x"
        have = [r for r in rows if r["scale"] == scale and f"{s} 1x" in r["runs"] and longer in r["runs"]]
        diffs = [r["runs"][longer]["accuracy"] - r["runs"][f"{s} 1x"]["accuracy"] for r in have]
        out.append({"strategy": s, "scale": scale, "cuts": len(have),
                    "1x": statistics.fmean(r["runs"][f"{s} 1x"]["accuracy"] for r in have),
                    "longer": statistics.fmean(r["runs"][longer]["accuracy"] for r in have),
                    "longer − 1x": statistics.fmean(diffs),
                    "higher / equal / lower": (f"{sum(d > 0 for d in diffs)} / {sum(d == 0 for d in diffs)} / "
                                               f"{sum(d < 0 for d in diffs)}")})
    return out


def _per_cut(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"cut": f"{r['task']}@{r['shots']} seed {r['seed']}",
            **{k: f"{v['accuracy']:.4f} ({v['steps']} steps, {v['seconds']:.0f} s)" for k, v in r["runs"].items()},
            "load": r["load_1m"]} for r in rows]


#: (cells.jsonl, command, note) → README.md beside it (:func:`benchmarks._probe.write_probe_report`)
write_report = functools.partial(write_probe_report, title=TITLE, doc=__doc__ or "", summary=summary,
                                 per_cut=_per_cut)


def main(argv: list[str] | None = None) -> int:
    """Run the probe; append one JSON line per cut to ``--out``."""
    p = probe_parser(__doc__, STRATEGIES)
    p.add_argument("--scale", type=float, default=SCALE, help="the longer fit's steps over the default's")
    a = p.parse_args(argv)
    if a.scale <= 1:
        p.error(f"--scale must be above 1, got {a.scale}")

    def line(row: dict[str, Any]) -> str:
        return f"{row['task']}@{row['shots']} seed {row['seed']}: " + ", ".join(
            f"{k} {v['accuracy']:.4f} ({v['seconds']:.0f} s)" for k, v in row["runs"].items())

    return run_probe(p, a, "longer_probe", argv,
                     lambda task, seed, work: probe_cell(task, a.shots, seed, tuple(a.strategies), a.scale, a.quick,
                                                         work or WORK),
                     line, write_report)


if __name__ == "__main__":
    sys.exit(main())
