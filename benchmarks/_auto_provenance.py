"""The auto benchmark's provenance notes and sanity checks: the load and processors of the timed runs, the failed
runs, one row per auto run, and what must hold at any budget (:func:`sanity_checks`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks._auto_report import HERE
from benchmarks._auto_revisions import AUTO_ARMS
from benchmarks._report import Checks


def load_note(runs: list[dict[str, Any]]) -> str:
    """The machine's 1-minute load at the end of each timed (auto) run, for the provenance: two pinned
    one-thread shards alone show about 2, one two-thread run about 2; more means another job shared the cores."""
    loads = [float(r["load_1m"]) for r in runs if r.get("arm") in AUTO_ARMS and "load_1m" in r]
    unrecorded = sum(1 for r in runs if r.get("arm") in AUTO_ARMS and "load_1m" not in r)
    if not loads:
        return "1-minute load at the auto runs' ends: not recorded" if unrecorded else "no auto run"
    return (f"1-minute load at the end of each auto run: at most {max(loads):.2f} over {len(loads)} runs"
            + (f" ({unrecorded} earlier runs did not record it)" if unrecorded else ""))


def machine_note(runs: list[dict[str, Any]]) -> str:
    """Which processors the timed runs (auto arms, the best single strategy rerun) ran on: a time budget buys more
    on a faster one, so runs of different machines compare only by what they scored in their own time."""
    cpus = Counter(str(r.get("cpu") or "not recorded") for r in runs if r.get("arm") in (*AUTO_ARMS, HERE))
    if not cpus:
        return "no timed run"
    return "processors of the timed runs: " + ", ".join(f"{c} ({n} runs)" for c, n in cpus.items()) + (
        " (runs before the processor was recorded ran on other sessions' machines, up to about 2.7 times slower: "
        "a run of self_training on digits took 424 CPU seconds here and 1,090-1,180 there)"
        if "not recorded" in cpus else "")


def failed_rows(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per run that raised a warmstart error (``(no rows)`` when none did)."""
    return [{"situation": r["situation"], "seed": r["seed"], "arm": r["arm"], "strategy": r.get("strategy", ""),
             "error": str(r["error"]).replace("|", ";")} for r in runs if r.get("error")]


def auto_rows(runs: list[dict[str, Any]], work: Path) -> list[dict[str, Any]]:
    """One row per auto run and first trial: what won (or ran), how it was chosen, trials, seconds
    (paths shown relative to the work folder ``work``; a recipe's ``|`` separators as ``;``)."""
    out = []
    for r in runs:
        if r["arm"] in AUTO_ARMS:
            ran = str(r.get("label") or r.get("error", "")).replace(f"{work}/", "").replace("|", ";")
            out.append({"situation": r["situation"], "seed": r["seed"], "arm": r["arm"],
                        "budget": r.get("budget", ""), "accuracy": r.get("accuracy"), "ran": ran,
                        "chosen by": r.get("selection") or "", "trials": r.get("trials", ""),
                        "seconds": round(float(r.get("seconds") or 0.0))})
    return out


def sanity_checks(runs: list[dict[str, Any]], budget: str) -> Checks:
    """What must hold at any budget: every auto run finished; a trial budget is run exactly; auto's winner
    scores above chance (1/classes + 0.05) in every run; every accuracy is in [0, 1]. (Whether auto meets
    its targets is the benchmark's result, not a check.)"""
    checks = Checks()
    autos = [r for r in runs if r["arm"] in ("auto_prior", "auto_none")]
    failed = [f"{r['situation']}/{r['seed']}/{r['arm']}: {r['error']}" for r in autos if r.get("error")]
    checks.add("every auto run finished", not failed, "; ".join(failed) or f"{len(autos)} runs")
    ok = [r for r in autos if not r.get("error")]
    if budget.isdigit():
        trials = [int(r["trials"]) for r in ok]
        checks.add(f"auto ran its budget of {budget} trials", set(trials) <= {int(budget)}, f"trials {trials}")
    checks.add("auto above chance in every run",
               all(1 / int(r["n_classes"]) + 0.05 <= float(r["accuracy"]) <= 1.0 for r in ok),
               ", ".join(f"{float(r['accuracy']):.3f}" for r in ok))
    accs = [float(r["accuracy"]) for r in runs if r.get("accuracy") is not None]
    checks.add("every accuracy in [0, 1]", all(0.0 <= a <= 1.0 for a in accs), f"{len(accs)} runs")
    same, unknown, differ = source_pairing(runs)
    checks.add("auto (prior) and the single strategies of its seed ran from the same source weights",
               not differ, f"{same} pairs the same, {unknown} unknown (a run of before the checksums were recorded)"
               + (f"; different: {', '.join(differ)}" if differ else ""))
    return checks


def _pairs(runs: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Every auto (prior) run with each single-strategy run (at defaults or rerun here) of its situation and seed."""
    from benchmarks._auto_report import HERE

    singles = [r for r in runs if r["arm"] in ("single", HERE)]
    return [(a, r) for a in runs if a["arm"] == "auto_prior"
            for r in singles if (r["situation"], r["seed"]) == (a["situation"], a["seed"])]


def _pairing(runs: list[dict[str, Any]], same: Callable[[dict[str, Any], dict[str, Any]], bool | None]
             ) -> tuple[int, int, list[str]]:
    """(pairs where ``same`` holds, pairs where it is None (unrecorded), pairs where it fails) over :func:`_pairs`."""
    n_same = unknown = 0
    differ: list[str] = []
    for a, r in _pairs(runs):
        verdict = same(a, r)
        if verdict is None:
            unknown += 1
        elif verdict:
            n_same += 1
        else:
            differ.append(f"{a['situation']}/{a['seed']}/{r.get('strategy')}")
    return n_same, unknown, differ


def _same_sources(a: dict[str, Any], r: dict[str, Any]) -> bool | None:
    """Whether two runs' checksums agree on every source both name (None: they name none in common)."""
    mine, theirs = a.get("sources_sha256") or {}, r.get("sources_sha256") or {}
    shared = set(mine) & set(theirs)
    return all(mine[k] == theirs[k] for k in shared) if shared else None


def _same_threads(a: dict[str, Any], r: dict[str, Any]) -> bool | None:
    """Whether two runs had the same torch threads (None: a run did not record them)."""
    if a.get("threads") is None or r.get("threads") is None:
        return None
    return int(a["threads"]) == int(r["threads"])


def source_pairing(runs: list[dict[str, Any]]) -> tuple[int, int, list[str]]:
    """(pairs with the same source weights, pairs where a run did not record them, the pairs that differ) over
    every auto (prior) run and each single-strategy run of its situation and seed (a source both name): a paired
    difference between runs of different source weights mixes the pretraining's numerics into the methods'."""
    return _pairing(runs, _same_sources)


def thread_pairing(runs: list[dict[str, Any]]) -> tuple[int, int, list[str]]:
    """(pairs run with the same torch threads, pairs where a run did not record them, the pairs that differ), over
    the pairs of :func:`source_pairing`: the threads split a fit's sums otherwise, so its numerics differ too (mcc
    alone on ``mnist5k-b-rotated`` seed 0, one checkpoint, the same 3,000 steps: 0.9540 on two threads, 0.9500 on
    one). Not a check: where the best single strategy is rerun beside auto at equal time both run on one thread,
    while at 2 minutes auto has the two threads a user's run would."""
    return _pairing(runs, _same_threads)


def thread_note(runs: list[dict[str, Any]]) -> str:
    """One line for the provenance: whether auto (prior) and the single strategies of its seed ran with the same torch
    threads (:func:`thread_pairing`)."""
    same, unknown, differ = thread_pairing(runs)
    return (f"torch threads of auto (prior) and the single strategies of its seed: {same} pairs the same, {unknown} "
            f"unknown (a run of before the threads were recorded), {len(differ)} different"
            + (f" ({', '.join(differ[:6])}{', ...' if len(differ) > 6 else ''})" if differ else ""))
