"""The domain-adaptation benchmark's report: per-method summary, plot, sanity checks, README with the targets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks._report import Checks, markdown_table, mean_std, provenance, write_csv
from warmstart._atomic import atomic_path, write_text_atomic
from warmstart.strategies._selection import SELECTORS

#: the issue's targets (best method, mean over seeds, label-free pick)
TARGETS = {"mnist5k -> digits": 0.95, "digits -> mnist5k": 0.80, "mnist5k-a -> mnist5k-b-inverted": 0.90}
#: the label-free scores whose picks the table shows beside the selected one
SCORES = [s for s in SELECTORS if s != "last"]


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean ± std over seeds per (pair, method)."""
    out: list[dict[str, Any]] = []
    keys = list(dict.fromkeys((r["pair"], r["method"]) for r in rows))
    for pair, method in keys:
        rs = [r for r in rows if r["pair"] == pair and r["method"] == method]
        m, s = mean_std([r["accuracy"] for r in rs])
        om, os_ = mean_std([r["oracle_accuracy"] for r in rs])
        row: dict[str, Any] = {"pair": pair, "method": method, "selected by": rs[0]["select_by"],
                               "accuracy": f"{m:.3f} ± {s:.3f}"}
        for sc in SCORES:
            row[f"by {sc}"] = f"{mean_std([r[f'acc_by_{sc}'] for r in rs])[0]:.3f}"
        row["last"] = f"{mean_std([r['acc_last'] for r in rs])[0]:.3f}"
        row["oracle (reference)"] = f"{om:.3f} ± {os_:.3f}"
        row["seconds"] = f"{mean_std([r['seconds'] for r in rs])[0]:.1f}"
        per_1k = [float(r["s_per_1k_steps"]) for r in rs if r.get("s_per_1k_steps") not in (None, "")]
        row["s / 1k steps"] = f"{mean_std(per_1k)[0]:.1f}" if per_1k else ""
        row["_mean"], row["_std"], row["_oracle"] = m, s, om
        row["seeds"] = len(rs)
        out.append(row)
    return out


def _plot(summary: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pairs = list(dict.fromkeys(r["pair"] for r in summary))
    methods = list(dict.fromkeys(r["method"] for r in summary))
    fig, ax = plt.subplots(figsize=(2.2 + 2.2 * len(pairs), 3.6))
    width = 0.8 / max(1, len(methods))
    for j, m in enumerate(methods):
        xs, ys, es, os_ = [], [], [], []
        for i, p in enumerate(pairs):
            r = next((r for r in summary if r["pair"] == p and r["method"] == m), None)
            if r is not None:
                xs.append(i + (j - (len(methods) - 1) / 2) * width)
                ys.append(r["_mean"])
                es.append(r["_std"])
                os_.append(r["_oracle"])
        ax.bar(xs, ys, width, yerr=es, capsize=2, label=m)
        ax.scatter(xs, os_, marker="_", color="black", s=60, zorder=3)
    ax.set_xticks(range(len(pairs)), pairs, fontsize=8)
    ax.set_ylabel("target test accuracy")
    ax.set_ylim(0, 1)
    ax.set_title("label-free selection (bars, mean ± std); oracle pick (black ticks)", fontsize=9)
    ax.legend(fontsize=7, ncol=len(methods), loc="lower center")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def sanity_checks(rows: list[dict[str, Any]], expected_runs: int) -> Checks:
    """What must hold at any budget: every (pair, method, seed) ran once; every accuracy is in [0, 1];
    the oracle pick is at least as accurate as the label-free pick and as every other score's pick (it is
    the best of the same candidates). No accuracy floor: at ``--quick`` budgets on an inverted target the
    methods may sit at or below chance."""
    checks = Checks()
    keys = [(r["pair"], r["method"], r["seed"]) for r in rows]
    checks.add("each (pair, method, seed) ran once", len(keys) == len(set(keys)) == expected_runs,
               f"{len(set(keys))} distinct of {len(keys)} runs, {expected_runs} expected")
    accs = [float(v) for r in rows for k, v in r.items() if k == "accuracy" or k.startswith("acc_")
            or k == "oracle_accuracy"]
    checks.add("every accuracy in [0, 1]", all(0.0 <= a <= 1.0 for a in accs), f"{min(accs):.3f}..{max(accs):.3f}")
    worse = [r for r in rows if any(float(r["oracle_accuracy"]) < float(v) - 1e-9 for k, v in r.items()
                                    if k == "accuracy" or k.startswith("acc_"))]
    checks.add("the oracle pick is the best candidate", not worse, f"{len(worse)} runs where a pick beat the oracle")
    return checks


def write_outputs(out: Path, rows: list[dict[str, Any]], seeds: list[int], command: str, notes: list[str],
                  checks: Checks) -> None:
    """Write runs.csv, summary.csv, the plot and README.md (table, target check, provenance)."""
    summary = summarize(rows)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "runs.csv", rows)
    write_csv(out / "summary.csv", [{k: v for k, v in r.items() if not k.startswith("_")} for r in summary])
    _plot(summary, out / "domain_adaptation.png")
    cols = [c for c in summary[0] if not c.startswith("_")]
    verdict = _verdict(summary)
    text = "\n".join([
        "# Domain adaptation: label-free checkpoint selection",
        "",
        "Target test accuracy (mean ± std over seeds) of the checkpoint picked by the label-free score in "
        "'selected by'; 'by X' columns: accuracy had score X picked instead (same runs); 'last': no selection; "
        "'oracle': best test accuracy among the same candidate checkpoints, which needs target labels and is "
        "shown for reference only. No target label is used for training or selection (shots=0).",
        "",
        markdown_table(summary, cols),
        verdict,
        "",
        checks.markdown(),
        "## Provenance",
        provenance(command, seeds, notes="; ".join(notes)),
        "",
    ])
    write_text_atomic(out / "README.md", text)
    print(markdown_table(summary, cols))
    print(verdict)


def _verdict(summary: list[dict[str, Any]]) -> str:
    lines = []
    for pair, target in TARGETS.items():
        rs = [r for r in summary if r["pair"] == pair]
        best = max((r for r in rs if r["method"] != "source_only"), key=lambda r: r["_mean"], default=None)
        base = next((r for r in rs if r["method"] == "source_only"), None)
        if best is None or base is None:
            lines.append(f"- {pair}: not run (needs source_only and at least one adaptation method)")
            continue
        ok = best["_mean"] >= target
        lines.append(f"- {pair}: target best method >= {target:.2f} (label-free pick): best {best['method']} "
                     f"{best['_mean']:.3f} (oracle {best['_oracle']:.3f}) vs source_only {base['_mean']:.3f} "
                     f"({100 * (best['_mean'] - base['_mean']):+.1f} points): {'MET' if ok else 'NOT MET'}")
    return "Targets:\n" + "\n".join(lines)
