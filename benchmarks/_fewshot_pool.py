"""The few-shot benchmark's pool report: what the unlabelled pool adds, and the issue's targets.

Split from :mod:`benchmarks.fewshot` (which runs the methods) so each file holds one concept:
here, the paired gain of the best pool method over the best pool-free strategy per (direction,
shots), and the targets table.
"""

from __future__ import annotations

from typing import Any

from benchmarks._report import markdown_table, paired_ci

#: the issue's targets: best method (mean test accuracy over seeds) per (direction, shots)
TARGETS = {("mnist5k→digits", 1): 0.95, ("mnist5k→digits", 5): 0.97, ("mnist5k→digits", 10): 0.98}

def _means(sel: list[dict[str, Any]], methods: list[str]) -> dict[str, float]:
    """Mean test accuracy per method over the runs ``sel`` (methods that did not run are left out)."""
    out = {}
    for m in methods:
        accs = [r["accuracy"] for r in sel if r["method"] == m]
        if accs:
            out[m] = float(sum(accs) / len(accs))
    return out


def pool_gains(runs: list[dict[str, Any]], pool_free: list[str], pool: list[str]) -> list[dict[str, Any]]:
    """Per (direction, shots): the best pool method's paired gain over the best pool-free strategy.

    "Best" is the highest mean test accuracy over seeds on each side (a reporting choice made
    on test scores, shown as such); the gain is the mean over the seeds both ran of
    acc(best pool method) − acc(best pool-free strategy), with its 95% t confidence interval.
    Empty when no pool method ran.
    """
    rows: list[dict[str, Any]] = []
    keys = sorted({(r["direction"], r["shots"]) for r in runs}, key=lambda k: (k[0] != "mnist5k→digits", k[1]))
    for direction, shots in keys:
        sel = [r for r in runs if r["direction"] == direction and r["shots"] == shots]
        with_pool, without = _means(sel, pool), _means(sel, [m for m in pool_free if m not in pool])
        if not with_pool or not without:
            continue
        best_p, best_f = max(with_pool, key=with_pool.__getitem__), max(without, key=without.__getitem__)
        acc_p = {r["seed"]: r["accuracy"] for r in sel if r["method"] == best_p}
        acc_f = {r["seed"]: r["accuracy"] for r in sel if r["method"] == best_f}
        seeds = sorted(set(acc_p) & set(acc_f))
        gain, lo, hi = paired_ci([acc_p[s] for s in seeds], [acc_f[s] for s in seeds])
        rows.append({"direction": direction, "shots": shots, "best_pool_method": best_p,
                     "pool_accuracy": with_pool[best_p], "best_pool_free": best_f,
                     "pool_free_accuracy": without[best_f], "seeds": len(seeds), "gain": gain, "ci95_low": lo,
                     "ci95_high": hi})
    return rows


def pool_section(gains: list[dict[str, Any]], pool: list[str]) -> str:
    """The README section on the pool: the gains table (empty string without pool methods)."""
    if not pool:
        return ""
    return ("## What the unlabelled pool adds\n\n"
            f"Pool methods: {', '.join(pool)}. Per (direction, shots), `gain` is the paired difference (same seeds, "
            "same support sets) between the best pool method and the best pool-free strategy, both picked by "
            "mean test accuracy, with a 95% t confidence interval (`nan` with one seed).\n\n"
            + markdown_table(gains, ["direction", "shots", "best_pool_method", "pool_accuracy", "best_pool_free",
                                     "pool_free_accuracy", "seeds", "gain", "ci95_low", "ci95_high"]) + "\n")


def targets_section(runs: list[dict[str, Any]]) -> str:
    """The issue's targets (:data:`TARGETS`): best method's mean test accuracy per cell, met or NOT met."""
    lines = []
    for (direction, shots), target in TARGETS.items():
        sel = [r for r in runs if r["direction"] == direction and r["shots"] == shots and r["method"] != "reference"]
        means = _means(sel, list(dict.fromkeys(r["method"] for r in sel)))
        if not means:
            lines.append(f"- {direction}, {shots} shot(s): best method >= {target:.2f}: not run")
            continue
        best = max(means, key=means.__getitem__)
        verdict = "met" if means[best] >= target else "NOT met"
        lines.append(f"- {direction}, {shots} shot(s): best method >= {target:.2f}: {best} {means[best]:.4f}: "
                     f"{verdict}")
    return "## Targets\n\n" + "\n".join(lines) + "\n\n"
