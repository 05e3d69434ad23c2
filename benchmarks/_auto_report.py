"""The auto benchmark's tables: per seed, per situation (paired differences with 95% CIs) and its targets.

Arms: ``auto_prior`` (auto with the leave-one-family-out prior), ``auto_none`` (auto with the
hand-written rules, today's), ``first_trial`` (the auto_prior run's first trial retrained on every
label as auto's final fit would retrain it in the rest of the budget), ``single:<strategy>`` (each
strategy at its defaults) and ``oracle`` (reference only: the best test accuracy of any recipe run on the
same cut, that is the meta-dataset's runs of the cell — which has seed 0 only, ``oracle_meta`` — and
this benchmark's single strategies and first trial of the seed).
The best single strategy is picked in hindsight: the one with the best mean test accuracy over the
situation's seeds, among those that ran on all of them (and, given the strategies expected, only once
every one of them has: until then it is the best so far and the targets that need it are not measured).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from benchmarks._report import mean_std, paired_ci

ARMS = ("auto_prior", "auto_none", "first_trial")
SINGLE = "single:"
#: the arm of the best single strategy run again on the machine of an equal-time comparison: its seconds set
#: auto's budget there, and its accuracy is the baseline the auto runs are paired with (the same run's)
HERE = "best_single_here"
#: the lower 95% CI bound auto (prior) − best single may reach and still "match"
CI_FLOOR = -0.01
#: "within 1 point of the oracle"
ORACLE_GAP = 0.01
#: accuracies are stored as float32 (about 7 significant digits): a mean difference closer to 0 than this is two
#: equal counts of correct test examples, not a loss (0.964 − 0.958, 0.964 − 0.970 and 0 average to −2e-8)
TIE = 1e-6


def per_seed(runs: Sequence[Mapping[str, Any]],
             oracles: Mapping[tuple[str, int], float | None]) -> list[dict[str, Any]]:
    """One row per (situation, seed): each arm's test accuracy (None when it failed or did not run)."""
    out: dict[tuple[str, int], dict[str, Any]] = {}
    for r in runs:
        k = (str(r["situation"]), int(r["seed"]))
        row = out.setdefault(k, {"situation": k[0], "seed": k[1], **{a: None for a in ARMS},
                                 "oracle": oracles.get(k)})
        col = SINGLE + str(r["strategy"]) if r["arm"] == "single" else str(r["arm"])
        if r["arm"] == HERE:
            row["here_strategy"] = r.get("strategy")
        row[col] = r.get("accuracy")
    for row in out.values():  # the oracle: the best recipe run on this very cut, here or in the meta-dataset
        row["oracle_meta"] = row["oracle"]
        seen = [float(v) for c, v in row.items() if v is not None and (c.startswith(SINGLE) or c == "first_trial")]
        if row["oracle"] is not None:
            seen.append(float(row["oracle"]))
        row["oracle"] = max(seen) if seen else None
    return list(out.values())


def best_single(rows: Sequence[Mapping[str, Any]]) -> tuple[str, list[float]] | None:
    """(strategy, its accuracy per row) of the best single strategy over ``rows`` (one situation's seeds)."""
    cols = sorted({c for r in rows for c in r if c.startswith(SINGLE)})
    done = [(c[len(SINGLE):], [float(r[c]) for r in rows]) for c in cols if all(r.get(c) is not None for r in rows)]
    if not done:
        return None
    return max(done, key=lambda cv: statistics.fmean(cv[1]))


def paired_target(a: Sequence[float], b: Sequence[float], floor: float = CI_FLOOR) -> dict[str, Any]:
    """Mean of a − b over paired seeds, its 95% CI, and whether a matches b: mean ≥ 0 (up to float32 rounding,
    :data:`TIE`) and lower bound ≥ ``floor`` (not met with one seed: there is no CI)."""
    d, lo, hi = paired_ci(a, b)
    return {"diff": d, "lo": lo, "hi": hi, "met": d >= -TIE and not math.isnan(lo) and lo >= floor}


def missing_singles(rows: Sequence[Mapping[str, Any]], expected: Sequence[str]) -> list[str]:
    """The ``expected`` single strategies that have not run on every one of ``rows`` (one situation's seeds)."""
    return [e for e in expected if any(r.get(SINGLE + e) is None for r in rows)]


def situation_stats(rows: Sequence[Mapping[str, Any]],
                    expected: Mapping[str, Sequence[str]] | None = None) -> list[dict[str, Any]]:
    """Per situation: every arm's values and the paired comparisons the targets need (numbers, None when missing).

    ``expected`` maps a situation to the single strategies it runs: those not finished on every seed are
    listed in ``singles_missing`` (the hindsight pick is then only the best *so far*, and the targets
    that need it are not measured for that situation). Without it nothing is counted missing.
    """
    out = []
    for name in dict.fromkeys(r["situation"] for r in rows):
        rs = [r for r in rows if r["situation"] == name]
        s: dict[str, Any] = {"situation": name, "seeds": len(rs),
                             "singles_missing": missing_singles(rs, (expected or {}).get(name, ()))}
        for arm in ARMS:
            s[arm] = [float(r[arm]) for r in rs if r.get(arm) is not None]
        s["oracle"] = [float(r["oracle"]) for r in rs if r.get("oracle") is not None]
        best = best_single(rs)
        s["best_single"], s["single"] = (best[0], best[1]) if best else (None, [])
        rerun = {r.get("here_strategy") for r in rs}
        if len(rerun) == 1 and None not in rerun and all(r.get(HERE) is not None for r in rs):
            # an equal-time comparison: the pick its budgets came from (hindsight over every seed the single
            # strategies ran on, :func:`best_single_name`), rerun beside auto on every seed, is the baseline, even
            # where another strategy's mean over these seeds alone is higher
            best = (str(next(iter(rerun))), [float(r[HERE]) for r in rs])
            s["best_single"], s["single"], s["single_here"] = best[0], best[1], True
        if best and all(r.get("auto_prior") is not None for r in rs):
            s["vs_best"] = paired_target([float(r["auto_prior"]) for r in rs], s["single"])
        gap = [float(r["oracle"]) - float(r["auto_prior"]) for r in rs
               if r.get("oracle") is not None and r.get("auto_prior") is not None]
        s["oracle_gap"] = statistics.fmean(gap) if gap else None
        pairs = [(float(r["first_trial"]), float(r["auto_none"])) for r in rs
                 if r.get("first_trial") is not None and r.get("auto_none") is not None]
        if pairs:
            s["first_vs_none"] = paired_target([p[0] for p in pairs], [p[1] for p in pairs])
        out.append(s)
    return out


def _ms(values: Sequence[float]) -> str:
    if not values:
        return "—"
    m, sd = mean_std(values)
    return f"{m:.4f} ± {sd:.4f}"


def _ci(p: Mapping[str, Any] | None) -> str:
    if p is None:
        return "—"
    if math.isnan(p["lo"]):
        return f"{p['diff']:+.4f} (one seed: no CI)"
    return f"{p['diff']:+.4f} [{p['lo']:+.4f}, {p['hi']:+.4f}]"


def summary_table(stats: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The per-situation table of the README (text cells)."""
    out = []
    for s in stats:
        vs = s.get("vs_best")
        missing = len(s.get("singles_missing") or ())
        out.append({"situation": s["situation"], "seeds": s["seeds"], "auto (prior)": _ms(s["auto_prior"]),
                    "auto (no prior)": _ms(s["auto_none"]), "first trial": _ms(s["first_trial"]),
                    "best single (hindsight)": (f"{s['best_single']} {_ms(s['single'])}"
                                                + (" (rerun on this machine)" if s.get("single_here") else "")
                                                + (f" (so far: {missing} strategies not run on every seed)"
                                                   if missing else "")) if s["best_single"] else "—",
                    "oracle": f"{statistics.fmean(s['oracle']):.4f} ({len(s['oracle'])} seeds)" if s["oracle"]
                    else "—",
                    "prior − best single": _ci(vs),
                    "matches": "—" if vs is None or missing else "yes" if vs["met"] else "NOT",
                    "oracle − prior": "—" if s["oracle_gap"] is None else f"{s['oracle_gap']:+.4f}",
                    "first − no prior": _ci(s.get("first_vs_none"))})
    return out


def _row(target: str, met: bool | None, measured: str) -> dict[str, str]:
    return {"target": target, "met": "not measured" if met is None else "yes" if met else "NOT met",
            "measured": measured}


def targets(stats: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Issue 16's targets for auto with the prior, met / NOT met / not measured (an arm missing, or a
    situation's single strategies not all finished: its best single strategy is not known yet)."""
    vs = [(s["situation"], None if s.get("singles_missing") else s.get("vs_best")) for s in stats]
    have = [(n, p) for n, p in vs if p is not None]
    every = None if not have or len(have) < len(vs) else all(p["met"] for _, p in have)
    avg = statistics.fmean(p["diff"] for _, p in have) if have else None
    part = "" if len(have) == len(vs) else f" over {len(have)} of {len(vs)} situations (the others wait for runs)"
    gaps = [s["oracle_gap"] for s in stats if s["oracle_gap"] is not None and not s.get("singles_missing")]
    firsts = [s["first_vs_none"]["diff"] for s in stats if s.get("first_vs_none")]
    return [
        _row(f"auto (prior) matches the best single strategy in every situation (mean paired difference ≥ 0, "
             f"lower 95% CI bound ≥ {CI_FLOOR})", every,
             "; ".join(f"{n} {_ci(p)}" for n, p in have) or "no paired runs"),
        _row("auto (prior) beats the best single strategy on average over situations",
             None if avg is None or part else avg > TIE, "—" if avg is None else f"{avg:+.4f}{part}"),
        # the oracle includes the single strategies' runs: not measured until every situation has them all
        _row(f"auto (prior) within {ORACLE_GAP * 100:.0f} point of the oracle on average (seeds with an oracle)",
             None if not gaps or every is None else statistics.fmean(gaps) <= ORACLE_GAP,
             "—" if not gaps else f"oracle − prior {statistics.fmean(gaps):+.4f} over {len(gaps)} situations"),
        _row("auto (prior)'s first trial alone matches auto without the prior after its full budget "
             "(mean paired difference over situations ≥ 0)", None if not firsts else statistics.fmean(firsts) >= -TIE,
             "—" if not firsts else f"{statistics.fmean(firsts):+.4f} over {len(firsts)} situations"),
    ]


def seed_table(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The per-seed table of the README: the three auto arms, the best single strategy (its runs on this machine,
    :data:`HERE`, where an equal-time comparison made one on every seed: the runs auto is paired with, as in
    :func:`situation_stats`) and the oracle."""
    out = []
    for s in situation_stats(rows):
        col = HERE if s.get("single_here") else SINGLE + s["best_single"] if s["best_single"] else None
        for r in (r for r in rows if r["situation"] == s["situation"]):
            vals = {a: r.get(a) for a in (*ARMS, "oracle")}
            vals["best single"] = r.get(col) if col else None
            out.append({"situation": r["situation"], "seed": r["seed"],
                        **{k: "—" if v is None else float(v) for k, v in vals.items()}})
    return out


def singles_table(rows: Sequence[Mapping[str, Any]],
                  expected: Mapping[str, Sequence[str]] | None = None) -> list[dict[str, Any]]:
    """Each single strategy's mean ± std per situation (the hindsight pick's pool); a strategy of
    ``expected`` that has not run on any seed has a row too (``—``, 0 seeds)."""
    out = []
    for name in dict.fromkeys(r["situation"] for r in rows):
        rs = [r for r in rows if r["situation"] == name]
        ran = {c for r in rs for c in r if c.startswith(SINGLE)}
        for c in sorted(ran | {SINGLE + e for e in (expected or {}).get(name, ())}):
            vals = [float(r[c]) for r in rs if r.get(c) is not None]
            out.append({"situation": name, "strategy": c[len(SINGLE):], "test accuracy": _ms(vals),
                        "seeds": f"{len(vals)}/{len(rs)}"})
    return out


def seconds_table(runs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Mean seconds per run of each arm per situation (the best single strategy rerun here, :data:`HERE`; single
    strategies: all of them, per seed; a one-thread single strategy's run counts its CPU seconds,
    :func:`run_seconds`)."""
    out = []
    for name in dict.fromkeys(str(r["situation"]) for r in runs):
        rs = [r for r in runs if r["situation"] == name]
        row: dict[str, Any] = {"situation": name}
        for arm in (*ARMS, HERE):
            secs = [run_seconds(r) for r in rs if r["arm"] == arm]
            row[f"{arm} s"] = f"{statistics.fmean(secs):.0f}" if secs else "—"
        seeds = {int(r["seed"]) for r in rs if r["arm"] == "single"}
        total = sum(run_seconds(r) for r in rs if r["arm"] == "single")
        row["all single strategies s (per seed)"] = f"{total / len(seeds):.0f}" if seeds else "—"
        out.append(row)
    return out


def best_single_name(runs: Sequence[Mapping[str, Any]], situation: str, seeds: Sequence[int],
                     expected: Sequence[str] = ()) -> str | None:
    """The best single strategy of ``situation`` picked as in the report (hindsight, by mean test accuracy over
    ``seeds`` and every other seed its single strategies ran on: an invocation for some seeds only, ``--seeds 0 1``,
    times auto against the same strategy as the others), or None while some seed lacks its single strategies or
    one of ``expected`` has not run on every seed."""
    rs = [r for r in runs if r["arm"] == "single" and r["situation"] == situation]
    pool = set(seeds) | {int(r["seed"]) for r in rs}
    wide = per_seed(rs, {})
    if {int(r["seed"]) for r in wide} != pool:
        return None
    best = best_single(wide)
    return None if best is None or missing_singles(wide, expected) else best[0]


def here_budget(run: Mapping[str, Any]) -> str:
    """auto's budget at equal time for one seed: the seconds of the best single strategy's run on this machine
    (:data:`HERE`; :func:`run_seconds`), rounded up to whole seconds and at least auto's smallest wall budget."""
    from warmstart.auto.run import MIN_SECONDS

    return f"{max(math.ceil(run_seconds(run)), math.ceil(MIN_SECONDS))}s"


def run_seconds(run: Mapping[str, Any]) -> float:
    """A single strategy's cost: its CPU seconds when it ran on one thread (what the same run takes alone,
    whatever shared the cores), else its wall seconds."""
    return float(run["cpu_seconds"]) if by_cpu(run) else float(run.get("seconds") or 0.0)


def by_cpu(run: Mapping[str, Any]) -> bool:
    """Whether a run's cost is its CPU seconds: it ran on one thread and recorded them."""
    return run.get("threads") == 1 and isinstance(run.get("cpu_seconds"), (int, float))
