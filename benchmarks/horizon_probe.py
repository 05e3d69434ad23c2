"""A fit that a budget cuts short: its schedule cut, or shortened to the steps it gets? A probe.

``auto``'s final fit trains up to its deadline. When the deadline comes before the fit's planned
steps, the run used to stop with its learning-rate schedule half-way (revision 23 and before);
since revision 24 :class:`warmstart.engine.horizon.DeadlineHorizon` shortens the schedule to the
steps projected to fit, so it anneals by the end (budget-aware schedules: Li, Yumer & Ramanan,
"Budgeted Training", ICLR 2020). This probe measures the difference on the same steps, with no
timing in it: per (task, shots, seed) and strategy at its defaults, fit on every label of the
few-shot cut from the ``mnist5k-a`` source (``run_recipe``, ``validation="none"``, as auto's final
fit), it runs

* ``cut``: the planned schedule, stopped after ``--share`` of its steps (what a deadline did);
* ``shortened``: the schedule over that many steps, ending there (what ``DeadlineHorizon`` does
  when its projection is right).

Tasks are the meta-dataset's shifts of ``mnist5k-b`` that are *not* the auto benchmark's
situations, so no design choice is made on those situations' test labels. Strategies: ``mcc``
(the prior's usual pick; the domain-adaptation schedule lr/(1 + 10p)^0.75) and ``l2sp`` (the
fine-tuning family's cosine schedule).

Usage:
    python -m benchmarks.horizon_probe --tasks mnist5k-b-elastic mnist5k-b-blurred --shots 5 --seeds 0 1
    python -m benchmarks.horizon_probe --quick      # tiny training → benchmarks/results/horizon_probe/quick/
    python -m benchmarks.horizon_probe --report-only  # rewrite README.md from cells.jsonl
"""

from __future__ import annotations

import functools
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from torch import nn

from benchmarks._probe import SOURCE_TASK, WORK, cut_row, probe_parser, probe_source, run_probe, write_probe_report
from warmstart.engine.callbacks import Callback, StopTraining

TITLE = "A fit cut by its budget: schedule cut or shortened? A probe"
STRATEGIES = ("mcc", "l2sp")
QUICK_PARAMS = {"epochs": 1, "min_steps": 10, "iterations": 10}
#: the share of the planned steps the budget leaves (the 2-minute runs of revision 20 cut mcc's at 64-66%)
SHARE = 0.65


class StepBudget(Callback):
    """Give a run ``share`` of its planned steps: stop it there (``shorten=False``, the schedule cut) or end its
    schedule there (``shorten=True``, :meth:`~warmstart.engine.callbacks.Callback.horizon`)."""

    def __init__(self, share: float, *, shorten: bool) -> None:
        self.share, self.shorten = share, shorten
        self.steps: int | None = None

    def horizon(self, step: int, total: int) -> int | None:
        self.steps = max(1, math.floor(self.share * total))
        return self.steps if self.shorten else None

    def on_batch_end(self, step: int, model: nn.Module) -> None:
        if not self.shorten and self.steps is not None and step >= self.steps:
            raise StopTraining(f"stopped at step {step} of the planned schedule")


def fit(task: Any, shots: int, seed: int, strategy: str, source: Any, share: float, shorten: bool,
        quick: bool) -> dict[str, Any]:
    """Test accuracy, steps and seconds of one strategy at its defaults given ``share`` of its steps."""
    from warmstart.engine.callbacks import extra_callbacks
    from warmstart.recipe import Recipe, run_recipe
    from warmstart.strategies import strategy_class

    known = strategy_class(strategy).param_table()
    params = {k: v for k, v in QUICK_PARAMS.items() if k in known} if quick else {}
    recipe = Recipe(strategy, params, source=str(source.path), source_task=SOURCE_TASK, shots=shots, seed=seed)
    budget = StepBudget(share, shorten=shorten)
    t0 = time.perf_counter()
    with extra_callbacks(budget):
        res = run_recipe(task, recipe, validation="none", source=source)
    return {"accuracy": float(res.test["accuracy"]), "steps": budget.steps, "seconds": time.perf_counter() - t0}


def probe_cell(task_name: str, shots: int, seed: int, strategies: tuple[str, ...], share: float, quick: bool,
               work: Path = WORK) -> dict[str, Any]:
    """Both arms of every strategy on one cut."""

    source = probe_source(work, seed, quick)
    runs = {f"{s} {arm}": fit(task_name, shots, seed, s, source, share, arm == "shortened", quick)
            for s in strategies for arm in ("cut", "shortened")}
    return cut_row(task_name, shots, seed, share=share, runs=runs)


def summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per strategy: mean test accuracy of each arm over the cuts and the mean paired difference."""
    out = []
    for s in sorted({k.split()[0] for r in rows for k in r["runs"]}):
        have = [r for r in rows if f"{s} cut" in r["runs"] and f"{s} shortened" in r["runs"]]
        diffs = [r["runs"][f"{s} shortened"]["accuracy"] - r["runs"][f"{s} cut"]["accuracy"] for r in have]
        out.append({"strategy": s, "cuts": len(have),
                    "cut": statistics.fmean(r["runs"][f"{s} cut"]["accuracy"] for r in have),
                    "shortened": statistics.fmean(r["runs"][f"{s} shortened"]["accuracy"] for r in have),
                    "shortened − cut": statistics.fmean(diffs),
                    "cuts where shortened is higher / equal / lower": (
                        f"{sum(d > 0 for d in diffs)} / {sum(d == 0 for d in diffs)} / {sum(d < 0 for d in diffs)}")})
    return out


def _per_cut(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"cut": f"{r['task']}@{r['shots']} seed {r['seed']}", "share": r["share"],
            **{k: f"{v['accuracy']:.4f} ({v['steps']} steps, {v['seconds']:.0f} s)" for k, v in r["runs"].items()},
            "load": r["load_1m"]} for r in rows]


#: (cells.jsonl, command, note) → README.md beside it (:func:`benchmarks._probe.write_probe_report`)
write_report = functools.partial(write_probe_report, title=TITLE, doc=__doc__ or "", summary=summary,
                                 per_cut=_per_cut)


def main(argv: list[str] | None = None) -> int:
    """Run the probe; append one JSON line per cut to ``--out``."""
    p = probe_parser(__doc__, STRATEGIES)
    p.add_argument("--share", type=float, default=SHARE, help="share of the planned steps the budget leaves")
    a = p.parse_args(argv)
    if not 0 < a.share < 1:
        p.error(f"--share must be in (0, 1), got {a.share}")
    def line(row: dict[str, Any]) -> str:
        return f"{row['task']}@{row['shots']} seed {row['seed']}: " + ", ".join(
            f"{k} {v['accuracy']:.4f} ({v['steps']} steps)" for k, v in row["runs"].items())

    return run_probe(p, a, "horizon_probe", argv,
                     lambda task, seed, work: probe_cell(task, a.shots, seed, tuple(a.strategies), a.share, a.quick,
                                                         work or WORK),
                     line, write_report)

if __name__ == "__main__":
    sys.exit(main())
