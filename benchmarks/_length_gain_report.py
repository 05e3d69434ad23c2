"""The length-gain benchmark's report: per-cell tables, the mean gain per strategy and shots, checks, CSV."""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from typing import Any

from benchmarks._length_gain_lofo import __doc__ as lofo_doc
from benchmarks._length_gain_lofo import lofo_picks, lofo_summary, public
from benchmarks._length_gain_runs import accuracy, cell_name, gain, pairs, with_modality
from benchmarks._report import Checks, markdown_table, provenance, write_csv
from warmstart._atomic import write_text_atomic

CELL_COLUMNS = ("strategy", "trial acc", "full acc", "gain", "trial s", "full s", "steps trial→full")
def _mean(values: list[float]) -> float | str:
    return statistics.fmean(values) if values else ""


def cell_table(runs: list[dict[str, Any]], trial_only: set[str]) -> list[dict[str, Any]]:
    """One row per strategy of one cell: accuracies, gain and seconds (means over seeds), steps trial→full."""
    by_strategy: dict[str, list[dict[str, dict[str, Any]]]] = defaultdict(list)
    for (_, _, strategy), fids in pairs(runs).items():
        by_strategy[strategy].append(fids)
    out = []
    for strategy, seeds in by_strategy.items():
        row: dict[str, Any] = {"strategy": strategy}
        for fid in ("trial", "full"):
            done = [f[fid] for f in seeds if fid in f]
            accs = [a for a in (accuracy(r) for r in done) if a is not None]
            row[f"{fid} acc"] = _mean(accs) if accs else "failed" if done else \
                "(no longer length)" if fid == "full" and strategy in trial_only else "(pending)"
            secs = _mean([float(r["seconds"]) for r in done])
            row[f"{fid} s"] = f"{secs:.1f}" if isinstance(secs, float) else secs
        gains = [g for g in (gain(f) for f in seeds) if g is not None]
        row["gain"] = f"{statistics.fmean(gains):+.4f}" if gains else ""
        steps = [str(next((f[fid]["steps"] for f in seeds if fid in f), "")) for fid in ("trial", "full")]
        row["steps trial→full"] = "→".join(s for s in steps if s)
        out.append(row)
    return out


def gain_table(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean gain (full − trial test accuracy) per modality, strategy and shot level over cells and seeds, with its
    count (a prior counts only the gains of a task's modality)."""
    by: dict[tuple[str, str], dict[int | str, list[float]]] = defaultdict(lambda: defaultdict(list))
    shot_levels: set[int] = set()
    for (cell, _, strategy), fids in pairs(runs).items():
        g = gain(fids)
        if g is not None:
            shots = int(cell.rpartition("@")[2])
            shot_levels.add(shots)
            modality = str(next(iter(fids.values())).get("modality") or "")
            by[(modality, strategy)][shots].append(g)
            by[(modality, strategy)]["all"].append(g)
    cols: list[int | str] = [*sorted(shot_levels), "all"]
    out = []
    for (modality, strategy), gains in by.items():
        row: dict[str, Any] = {"modality": modality, "strategy": strategy}
        for c in cols:
            name = "all" if c == "all" else f"{c} shot{'s' if c != 1 else ''}"
            row[name] = f"{statistics.fmean(gains[c]):+.4f} ({len(gains[c])})" if gains.get(c) else ""
        out.append(row)
    return sorted(out, key=lambda r: (r["modality"], -float(str(r["all"]).split(" ")[0])))


def sanity_checks(plan: list[Any], log: Any, runs: list[dict[str, Any]]) -> Checks:
    """Every planned run finished with an accuracy (both fidelities of every strategy with a full length);
    no run failed (the failed ones listed); every accuracy in [0, 1]."""
    checks = Checks()
    missing = [f"{c.name} seed {s} {st} {fid}" for c, s, st, fid, _ in plan
               if accuracy(log.get(c.name, s, fid, st)) is None]
    checks.add("every cell has both fidelities for every strategy that has a full length", not missing,
               f"{len(plan) - len(missing)}/{len(plan)} planned runs finished"
               + (f"; missing: {', '.join(missing[:8])}{' …' if len(missing) > 8 else ''}" if missing else ""))
    failed = [f"{cell_name(r)} seed {r['seed']} {r['strategy']} {r['fidelity']}: {r['error']}".replace("|", ";")
              for r in runs if r.get("error")]
    checks.add("no failed runs", not failed, "; ".join(failed) or f"{len(runs)} runs")
    accs = [a for a in (accuracy(r) for r in runs) if a is not None]
    checks.add("every accuracy in [0, 1]", all(0.0 <= a <= 1.0 for a in accs), f"{len(accs)} runs")
    return checks


def csv_rows(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The runs with ``params`` as JSON text and, on a full run, its ``gain`` over the trial run."""
    by = pairs(runs)
    out = []
    for r in runs:
        g = gain(by[(cell_name(r), int(r["seed"]), str(r["strategy"]))]) if r["fidelity"] == "full" else None
        out.append({**r, "params": json.dumps(r["params"], sort_keys=True), "error": r.get("error", ""),
                    "gain": "" if g is None else g})
    return out


def write_report(args: argparse.Namespace, bench: Any, plan: list[Any], intro: str, command: str,
                 seconds: float) -> int:
    """Write ``OUT/README.md`` (``intro``: what it measures and why) and ``OUT/length_gain.csv`` from the
    current runs of the cells and seeds.

    Returns:
        The checks' exit code (0 when all held).
    """
    order = {c.name: i for i, c in enumerate(args.cells)}
    strat = {m.strategy: i for i, m in enumerate(bench.portfolio)}
    runs = sorted(with_modality([r for k, r in bench.log.runs.items() if k[0] in order and k[1] in set(args.seeds)]),
                  key=lambda r: (order[cell_name(r)], int(r["seed"]), strat.get(r["strategy"], len(strat)),
                                 r["strategy"], r["fidelity"] != "trial"))
    checks = sanity_checks(plan, bench.log, runs)
    parts = ["# Length gain: trial budget vs full length per strategy\n", intro.strip() + "\n",
             "## Per cell (test accuracy, mean over seeds; gain = full − trial, paired by seed)\n"]
    for cell in args.cells:
        mine = [r for r in runs if cell_name(r) == cell.name]
        parts += [f"### {cell.name} ({cell.target.family}; source task {cell.target.source_task})\n",
                  markdown_table(cell_table(mine, bench.trial_only), CELL_COLUMNS)]
    parts += ["## Mean gain per strategy and shots (over cells and seeds; count in brackets)\n",
              markdown_table(gain_table(runs))]
    picks = lofo_picks(runs)
    parts += ["## Do the gains pick the better model? (leave-one-family-out)\n",
              (lofo_doc.split("\n\n", 1)[1].strip() + "\n") if lofo_doc else "",
              markdown_table(lofo_summary(picks)), markdown_table(public(picks))]
    notes = [f"{s}: no longer length than its trials (trial run only)" for s in sorted(bench.trial_only)]
    notes += [f"cell skipped: {s}" for s in bench.skipped]
    if args.shard[1] > 1 and not args.report_only:
        notes.append(f"shard {args.shard[0]}/{args.shard[1]}: the checks cover this shard's runs; "
                     "run --report-only after every shard for the whole table")
    if args.quick:
        notes.append("quick: sources pretrained 2 epochs on at most 1,500 examples; the quick trial budget "
                     "(benchmarks._meta_portfolio.QUICK_BUDGET) and a full length of 3x its steps, not the strategies' "
                     "defaults")
    parts += ["## Notes\n", "\n".join(f"- {n}" for n in notes) + "\n" if notes else "(none)\n", checks.markdown(),
              "## Provenance\n",
              provenance(command, args.seeds, f"cells {', '.join(c.name for c in args.cells)}; "
                         f"{seconds:.0f} s of this invocation (earlier runs read from runs.jsonl)") + "\n"]
    args.out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.out / "README.md", "\n".join(parts))
    write_csv(args.out / "length_gain.csv", csv_rows(runs))
    print(markdown_table(gain_table(runs)))
    return checks.exit_code()
