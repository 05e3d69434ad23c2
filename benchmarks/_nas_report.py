"""The NAS benchmark's tables and plot: search summaries, time-to-target, and each search against l2sp.

Split from :mod:`benchmarks.nas` (which runs the searches) so each file holds one concept.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._report import mean_std

STRATEGIES = ["random", "evolution", "tpe", "rl", "darts", "nsga2"]
TARGETS = ["digits", "mnist5k-b-rotated"]
SHOTS = 10
BASELINE = "l2sp"


def time_to_reach(timeline: list[dict[str, Any]], level: float) -> float:
    """Seconds until the best-so-far validation accuracy first reaches ``level`` (inf if never)."""
    for row in timeline:
        if row["best_val_accuracy"] >= level - 1e-9:
            return float(row["seconds"])
    return float("inf")


def l2sp_table(rows: list[dict[str, Any]], refs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Target (3): each inheriting search's final model against l2sp at defaults (same source, support set, seed)."""
    out = []
    for r in rows:
        ref = next((x for x in refs if (x["target"], x["seed"]) == (r["target"], r["seed"])), None)
        if r["init"] != "inherit" or ref is None:
            continue
        out.append({"target": r["target"], "seed": r["seed"], "strategy": r["strategy"], "winner": r["winner"],
                    "baseline_val": r["baseline_val_acc"], "best_candidate_val": r["best_val_acc"],
                    "search_test": r["test_acc"], "l2sp_test": ref["test_acc"],
                    "search_wall_s": r["search_s"] + r["final_train_s"], "l2sp_wall_s": ref["wall_s"]})
    return out


def targets_table(rows: list[dict[str, Any]], curves: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict]:
    """Target (1) per target/seed/inherit-strategy and target (2) per target."""
    out = []
    for target in sorted({r["target"] for r in rows}):
        for seed in sorted({r["seed"] for r in rows}):
            scratch = [r for r in rows if r["target"] == target and r["seed"] == seed and r["init"] == "scratch"]
            if not scratch:
                continue
            best = max(scratch, key=lambda r: (r["best_val_acc"], -r["search_s"]))
            for r in rows:
                if r["target"] != target or r["seed"] != seed or r["init"] != "inherit":
                    continue
                tl = [c for c in curves if c["target"] == target and c["seed"] == seed
                      and c["strategy"] == r["strategy"] and c["init"] == "inherit"]
                t = time_to_reach([{"seconds": c["seconds"], "best_val_accuracy": c["best_val_acc"]} for c in tl],
                                  best["best_val_acc"])
                out.append({"target": target, "seed": seed, "inherit_strategy": r["strategy"],
                            "best_scratch": best["strategy"], "scratch_val": best["best_val_acc"],
                            "scratch_wall_s": best["search_s"], "inherit_time_to_reach_s": t,
                            "ratio": t / best["search_s"], "met_1/5": t <= best["search_s"] / 5})
    evo = {}
    for target in sorted({r["target"] for r in rows}):
        def accs(s: str, key: str, tgt: str = target) -> list[float]:
            return [r[key] for r in rows if r["target"] == tgt and r["strategy"] == s and r["init"] == "inherit"]
        if accs("evolution", "test_acc") and accs("random", "test_acc"):
            evo[target] = {"evolution_test": mean_std(accs("evolution", "test_acc")),
                           "random_test": mean_std(accs("random", "test_acc")),
                           "evolution_val": mean_std(accs("evolution", "best_val_acc")),
                           "random_val": mean_std(accs("random", "best_val_acc"))}
    return out, evo


def summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    keys = sorted({(r["target"], r["strategy"], r["init"]) for r in rows},
                  key=lambda k: (k[0], STRATEGIES.index(k[1]), k[2]))
    for target, strategy, init in keys:
        sel = [r for r in rows if (r["target"], r["strategy"], r["init"]) == (target, strategy, init)]
        v, vs = mean_std([r["best_val_acc"] for r in sel])
        t, ts = mean_std([r["test_acc"] for r in sel])
        kept = sum(r["winner"] == "baseline" for r in sel)
        out.append({"target": target, "strategy": strategy, "init": init,
                    "trials": f"{np.mean([r['trials'] for r in sel]):.1f}",
                    "best candidate val acc": f"{v:.3f} ± {vs:.3f}",
                    "final": f"baseline {kept}/{len(sel)}" if init == "inherit" else "candidate",
                    "test acc": f"{t:.3f} ± {ts:.3f}",
                    "search s": f"{np.mean([r['search_s'] for r in sel]):.1f}",
                    "final train s": f"{np.mean([r['final_train_s'] for r in sel]):.1f}",
                    "latency ms": f"{np.mean([r['latency_ms'] for r in sel]):.3f}"})
    return out


def plot(curves: list[dict[str, Any]], fronts: list[dict[str, Any]], budget_s: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    targets = sorted({c["target"] for c in curves})
    fig, axes = plt.subplots(1, len(targets) + 1, figsize=(5 * (len(targets) + 1), 4), squeeze=False)
    grid = np.linspace(0, budget_s, 60)
    colors = dict(zip(STRATEGIES, plt.rcParams["axes.prop_cycle"].by_key()["color"], strict=False))
    for ax, target in zip(axes[0], targets, strict=False):
        for strategy in STRATEGIES:
            for init, style in (("inherit", "-"), ("scratch", "--")):
                sel = [c for c in curves if c["target"] == target and c["strategy"] == strategy and c["init"] == init]
                seeds = sorted({c["seed"] for c in sel})
                if not seeds:
                    continue
                ys = []
                for s in seeds:
                    pts = sorted((c["seconds"], c["best_val_acc"]) for c in sel if c["seed"] == s)
                    ys.append([max([v for t, v in pts if t <= g], default=np.nan) for g in grid])
                with np.errstate(all="ignore"), warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    mean = np.nanmean(np.array(ys, dtype=float), axis=0)
                ax.plot(grid, mean, style, color=colors[strategy], label=f"{strategy} {init}")
        ax.set_title(f"{target}, {SHOTS}/class: candidates' best-so-far validation")
        ax.set_xlabel("wall time of the candidates (s)")
        ax.set_ylabel("validation accuracy")
    axes[0][0].legend(fontsize=6, ncol=2)
    ax = axes[0][-1]
    for c in curves:
        if c["strategy"] == "nsga2":
            ax.scatter(c["latency_ms"], c["val_acc"], s=8, alpha=0.3,
                       color="tab:blue" if c["init"] == "inherit" else "tab:orange")
    for init, color in (("inherit", "tab:blue"), ("scratch", "tab:orange")):
        pts = sorted((f["latency_ms"], f["val_acc"]) for f in fronts if f["init"] == init)
        if pts:
            ax.plot(*zip(*pts, strict=True), "o", color=color, label=f"Pareto points ({init})")
    ax.set_xlabel("measured CPU latency, batch 1 (ms)")
    ax.set_ylabel("validation accuracy")
    ax.set_title("nsga2: accuracy vs latency")
    if fronts:
        ax.legend(fontsize=7)
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    os.replace(tmp, path)
    plt.close(fig)


def l2sp_summary(table: list[dict[str, Any]], bud: Any) -> str:
    """One paragraph: how often the search ended at least as accurate as l2sp, and the wall times."""
    if not table:
        return "No search with inheritance ran."
    n = len(table)
    ge = sum(r["search_test"] >= r["l2sp_test"] - 1e-9 for r in table)
    kept = sum(r["winner"] == "baseline" for r in table)
    return (f"The search's final model is at least as accurate on test as {BASELINE} in {ge}/{n} searches; the "
            f"baseline was kept in {kept}/{n}. Mean test accuracy {np.mean([r['search_test'] for r in table]):.3f} "
            f"(search) vs {np.mean([r['l2sp_test'] for r in table]):.3f} ({BASELINE}). Wall time: each search "
            f"had {bud} plus its final training, {np.mean([r['search_wall_s'] for r in table]):.1f} s on average; "
            f"{BASELINE} took {np.mean([r['l2sp_wall_s'] for r in table]):.1f} s on average.")
