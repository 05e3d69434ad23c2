"""Do the single strategies score the same in channels-last memory? A check of the auto benchmark's baseline.

Since auto revision 32 the engine trains convolutional models in channels-last memory on CPU, and the auto
benchmark's image situations pair auto's runs of that revision with single strategies run before it, in
contiguous memory. This reads the contending single strategies run again with today's code (``--check``: an
``--out`` of ``python -m benchmarks.auto --arms singles``, from the same source checkpoints) and compares them with
the stored ones run by run; then it pairs auto (prior) with the best single strategy picked in hindsight among the
re-run strategies of each situation that ran on every re-run seed (past seeds 0-2 only the contenders run), as
the benchmark picks.

Usage:
    python -m benchmarks.auto_layout_check --check benchmarks/results/auto/channels-last-check
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any


def compare(stored: dict[tuple[str, int, str, str], dict[str, Any]],
            again: dict[tuple[str, int, str, str], dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per single-strategy run done again: its stored and new test accuracy."""
    out = []
    for key, row in sorted(again.items()):
        old = stored.get(key)
        if row.get("arm") != "single" or old is None or row.get("accuracy") is None:
            continue
        out.append({"situation": key[0], "seed": key[1], "strategy": key[3], "contiguous": float(old["accuracy"]),
                    "channels-last": float(row["accuracy"]),
                    "difference": float(row["accuracy"]) - float(old["accuracy"]),
                    "threads": f"{old.get('threads', '?')} / {row.get('threads', '?')}"})
    return out


def repaired(stored: dict[tuple[str, int, str, str], dict[str, Any]],
             runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per situation: auto (prior) against the hindsight-best of the strategies re-run on every re-run seed."""
    from benchmarks._auto_report import paired_target

    out = []
    for sit in dict.fromkeys(r["situation"] for r in runs):
        rs = [r for r in runs if r["situation"] == sit]
        acc = {(r["seed"], r["strategy"]): r["channels-last"] for r in rs}
        seeds = [s for s in sorted({r["seed"] for r in rs}) if (sit, s, "auto_prior", "") in stored]
        # the strategies re-run on every one of those seeds (on seeds past 0-2 only the contenders run)
        runs_on = [t for t in sorted({r["strategy"] for r in rs}) if all((s, t) in acc for s in seeds)]
        if not seeds or not runs_on:
            continue
        best = max(runs_on, key=lambda t: statistics.fmean(acc[(s, t)] for s in seeds))
        auto = [float(stored[(sit, s, "auto_prior", "")]["accuracy"]) for s in seeds]
        p = paired_target(auto, [acc[(s, best)] for s in seeds])
        out.append({"situation": sit, "seeds": " ".join(map(str, seeds)), "best re-run single": best,
                    "its mean": statistics.fmean(acc[(s, best)] for s in seeds),
                    "auto (prior) mean": statistics.fmean(auto),
                    "auto − it (95% CI)": f"{p['diff']:+.4f} [{p['lo']:+.4f}, {p['hi']:+.4f}]",
                    "matches": "yes" if p["met"] else "NOT"})
    return out


def main(argv: list[str] | None = None) -> int:
    """Write README.md in ``--check``."""
    from benchmarks._auto_revisions import RunLog
    from benchmarks._report import markdown_table, provenance
    from warmstart._atomic import write_text_atomic

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", type=Path, required=True, help="the --out of the single strategies run again")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/auto"), help="the benchmark's --out")
    p.add_argument("--seeds", type=int, nargs="+", default=None,
                   help="only these seeds (those whose re-runs are complete)")
    p.add_argument("--note", default="")
    a = p.parse_args(argv)
    if not (a.check / "runs.jsonl").is_file():
        p.error(f"--check {a.check}: no runs.jsonl there")
    stored, again = RunLog(a.out / "runs.jsonl").runs, RunLog(a.check / "runs.jsonl").runs
    runs = [r for r in compare(stored, again) if a.seeds is None or r["seed"] in a.seeds]
    diffs = [r["difference"] for r in runs]
    summary = [{"runs": len(runs), "mean difference": statistics.fmean(diffs) if diffs else float("nan"),
                "higher / equal / lower": f"{sum(d > 0 for d in diffs)} / {sum(d == 0 for d in diffs)} / "
                                          f"{sum(d < 0 for d in diffs)}"}]
    command = " ".join(["python -m benchmarks.auto_layout_check", *(argv if argv is not None else sys.argv[1:])])
    text = "\n".join([
        "# The auto benchmark's single strategies in channels-last memory: a check", "",
        __doc__.split("Usage:")[0].split("\n", 2)[2].strip(), "",
        "## Summary (test accuracy, channels-last − contiguous)", "", markdown_table(summary), "",
        "## auto (prior) against the best re-run single strategy", "", markdown_table(repaired(stored, runs)), "",
        "## Every run", "", markdown_table(runs), "",
        "## Provenance", "", provenance(command, sorted({r["seed"] for r in runs}), notes=a.note), ""])
    write_text_atomic(a.check / "README.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
