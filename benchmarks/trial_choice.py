"""Does a trial's validation score pick the strategy that wins at full length?

``auto`` scores its trials at the trial budget (:mod:`warmstart.auto.trial_budget`: 50 steps for the
adaptation loop) and retrains its winner at the strategy's full length (3,000 steps there): the
choice is made at one fidelity and paid for at another. The prior is measured at the trial's
fidelity (``benchmarks/prior_quality``: the meta-dataset's test accuracy is that of the trial's
recipe fitted on every label), where a few-shot validation score does help; this benchmark asks the
question at the fidelity ``auto`` returns.

Cells: the length-gain benchmark's image cells (``benchmarks/results/length_gain``: every strategy at
its defaults run at the trial budget and at its full length, each fit on every label, test accuracy
recorded), joined with the meta-dataset's runs of the same recipes on the same cells (the trial's
validation score: stratified k-fold on the support set, as ``auto`` scores a trial). Per cell, among
the strategies with both, the full-length test accuracy of the strategy each rule picks (ties: the
mean over the tied strategies, what a random tie-break gives on average):

* ``trial validation``: the best validation score at the trial budget (what ``auto``'s search sees);
* ``trial validation + gain``: that score plus the strategy's expected length gain
  (:class:`warmstart.knowledge._gains.LengthGains`, fitted on the length-gain pairs of every *other*
  family, the task's modality only), as ``auto``'s posterior adds it;
* ``trial test``: the best test accuracy at the trial budget (what a perfect model of the
  meta-dataset's target would pick; test labels, reference only), and ``trial test + gain`` the same
  plus the expected length gain (a perfect prior of the trial's score with today's gain model);
* ``posterior + gain``: auto's final choice among the cell's strategies up to its revision 26 (each
  run once, none drawn): the validation score shrunk toward a prior fitted
  leave-one-family-out on the meta-dataset (:meth:`warmstart.knowledge.prior.Prior.final_scores`,
  as ``benchmarks/prior_quality`` fits it, with the length gains of the other families), plus the gain;
* ``prediction + gain``: the prior's prediction alone plus the gain (validation ignored);
* ``posterior + gain, fidelity noise``: the same with ``PriorConfig.fidelity_noise``: the validation
  score read as a noisy observation of the *full-length* score, its variance adding the length-gain
  model's squared error on the training families' image pairs (the validation measures the trial,
  and the full length reorders strategies the gain model only predicts on average);
* ``one-SE by prediction + gain``: auto's final choice from revision 27
  (:func:`warmstart.auto.choice.one_se_pick`, every strategy a queued recipe): among the strategies
  whose posterior + gain is within one posterior std of the best, the one whose prediction + gain is
  highest;
* ``always S``: the same strategy S in every cell (reference: a fixed order).

Regret is the cell's best full-length test accuracy minus the pick's. No training happens here.

Usage:
    python -m benchmarks.trial_choice            # → benchmarks/results/trial_choice/
    python -m benchmarks.trial_choice --quick    # two cells → benchmarks/results/trial_choice/quick/
"""

from __future__ import annotations

import argparse
import copy
import csv
import dataclasses
import statistics
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from benchmarks._prior_rows import TABLE, read_rows
from benchmarks._report import Checks, markdown_table, output_folder, provenance, write_csv
from warmstart._atomic import write_text_atomic

GAIN_RUNS = Path(__file__).parent / "results" / "length_gain" / "length_gain.csv"
#: the fixed strategies reported as references
ALWAYS = ("self_training", "mcc", "cdan", "dann", "source_only")
#: fewest strategies with both scores that make a cell
MIN_STRATEGIES = 3


def read_gain_runs(path: Path) -> list[dict[str, Any]]:
    """The length-gain benchmark's runs (its CSV), numbers typed."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        for k in ("shots", "seed", "steps"):
            r[k] = int(float(r[k])) if r.get(k) not in (None, "") else None
        r["test_accuracy"] = float(r["test_accuracy"]) if r.get("test_accuracy") not in (None, "") else None
    return rows


def cells(meta: list[dict[str, Any]], gains: list[dict[str, Any]]) -> dict[tuple[str, int], dict[str, dict[str, Any]]]:
    """(task key, seed) → strategy → its trial validation, trial test and full test (image cells; strategies with all
    three; cells with at least :data:`MIN_STRATEGIES`)."""
    trial_val = {(str(r["task"]), int(r.get("seed") or 0), str(r["strategy"])): r for r in meta
                 if str(r.get("member") or "").endswith("#default") and isinstance(r.get("score"), float)}
    runs: dict[tuple[str, int, str], dict[str, Any]] = defaultdict(dict)
    family: dict[tuple[str, int], str] = {}
    for r in gains:
        if r.get("modality") != "image" or r.get("test_accuracy") is None:
            continue
        key = (str(r["key"]), int(r["seed"] or 0), str(r["strategy"]))
        runs[key][str(r["fidelity"])] = r["test_accuracy"]
        runs[key]["shots"] = r["shots"]
        family[key[:2]] = str(r["family"])
    out: dict[tuple[str, int], dict[str, dict[str, Any]]] = defaultdict(dict)
    for key, by in runs.items():
        meta_row = trial_val.get(key)
        if meta_row is None or "full" not in by or "trial" not in by:
            continue
        out[key[:2]][key[2]] = {"validation": meta_row["score"], "trial": by["trial"], "full": by["full"],
                                "shots": by["shots"], "family": family[key[:2]]}
    return {k: v for k, v in out.items() if len(v) >= MIN_STRATEGIES}


def pick_value(cell: dict[str, dict[str, Any]], score: dict[str, float]) -> float:
    """The mean full-length test accuracy of the strategies with the best ``score`` (a random tie-break's mean)."""
    best = max(score.values())
    return statistics.fmean(cell[s]["full"] for s, v in score.items() if v >= best - 1e-9)


def prior_rules(prior: Any, cell: dict[str, dict[str, Any]], sit: dict[str, Any], n_labels: int
                ) -> dict[str, dict[str, float]]:
    """Per prior-based rule, each strategy's expected full-length score (module docstring)."""
    from warmstart.knowledge.prior import Observed

    names = sorted(cell)
    observed = [Observed({"strategy": s, "params": {}}, cell[s]["validation"]) for s in names]
    shots = int(sit["shots"])
    noisy = copy.copy(prior)
    noisy.config = dataclasses.replace(prior.config, fidelity_noise=True)
    from warmstart.auto.choice import one_se_pick

    out: dict[str, dict[str, float]] = {"posterior + gain": {}, "prediction + gain": {},
                                        "posterior + gain, fidelity noise": {}}
    finals = prior.final_scores(observed, sit, n_examples=n_labels, fractions=[1.0] * len(names))
    for f in finals:
        s = names[f.index]
        out["posterior + gain"][s] = f.expected
        out["prediction + gain"][s] = f.predicted + prior.length_gain(s, shots, 1.0, "image", f.predicted)
    pick = names[one_se_pick(finals, [True] * len(finals)).index]
    out["one-SE by prediction + gain"] = {s: float(s == pick) for s in names}
    for f in noisy.final_scores(observed, sit, n_examples=n_labels, fractions=[1.0] * len(names)):
        out["posterior + gain, fidelity noise"][names[f.index]] = f.expected
    return out


def fit_priors(meta: list[dict[str, Any]], gain_runs: list[dict[str, Any]], families: set[str]) -> dict[str, Any]:
    """Per held-out family: the prior fitted on every other family (meta-dataset rows, target test accuracy, their
    length-gain runs)."""
    from warmstart.knowledge.prior import fit_prior

    out = {}
    for fam in sorted(families):
        prior = fit_prior([{**r, "curve": None} for r in meta if r.get("family") != fam], target="test_accuracy",
                          gain_rows=[r for r in gain_runs if r.get("family") != fam])
        out[fam] = prior
    return out


def score_cells(table: dict[tuple[str, int], dict[str, dict[str, Any]]],
                gain_runs: list[dict[str, Any]], meta: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Every rule's regret on every cell (gains and priors fitted without the cell's family; the prior-based rules
    only with ``meta``, the meta-dataset's rows)."""
    from benchmarks.prior_quality import situation, support_size
    from warmstart.knowledge._gains import LengthGains

    families = {next(iter(c.values()))["family"] for c in table.values()}
    priors = fit_priors(meta, gain_runs, families) if meta else {}
    fitted = {fam: LengthGains.fit([r for r in gain_runs if r.get("family") != fam]) for fam in families}
    out = []
    for (task, seed), cell in sorted(table.items()):
        fam = next(iter(cell.values()))["family"]
        shots = int(next(iter(cell.values()))["shots"])
        gains = fitted[fam]
        oracle = max(c["full"] for c in cell.values())
        def plus(col: str, cell: dict[str, dict[str, Any]] = cell, gains: Any = gains, shots: int = shots
                 ) -> dict[str, float]:
            return {s: c[col] + (gains.gain(s, shots, modality="image", score=c[col]) if gains else 0.0)
                    for s, c in cell.items()}

        row: dict[str, Any] = {
            "task": task, "seed": seed, "family": fam, "shots": shots, "strategies": len(cell), "oracle": oracle,
            "regret trial validation": oracle - pick_value(cell, {s: c["validation"] for s, c in cell.items()}),
            "regret trial validation + gain": oracle - pick_value(cell, plus("validation")),
            "regret trial test": oracle - pick_value(cell, {s: c["trial"] for s, c in cell.items()}),
            "regret trial test + gain": oracle - pick_value(cell, plus("trial")),
        }
        if fam in priors:
            prior = priors[fam]
            meta_row = next(r for r in meta or () if r["task"] == task and int(r.get("seed") or 0) == seed)
            for rule, scores in prior_rules(prior, cell, situation(meta_row), support_size(meta_row)).items():
                row[f"regret {rule}"] = oracle - pick_value(cell, scores)
        for s in ALWAYS:
            row[f"regret always {s}"] = oracle - cell[s]["full"] if s in cell else float("nan")
        row["winner"] = max(cell, key=lambda s: cell[s]["full"])
        out.append(row)
    return out


def mean_row(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The mean of every regret column over ``rows`` (a column's missing values left out)."""
    out: dict[str, Any] = {"task": "mean", "strategies": "", "cells": len(rows)}
    for k in rows[0]:
        if k.startswith("regret"):
            vals = [r[k] for r in rows if r[k] == r[k]]
            out[k] = statistics.fmean(vals) if vals else float("nan")
    return out


def main(argv: list[str] | None = None) -> int:
    """Run it; exit 1 when a sanity check fails."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the first two cells only (into the quick/ folder)")
    ap.add_argument("--table", type=Path, default=TABLE, help="the meta-dataset table (meta_dataset.csv)")
    ap.add_argument("--gains", type=Path, default=GAIN_RUNS, help="the length-gain benchmark's length_gain.csv")
    ap.add_argument("--out", type=Path, default=None, help="output folder")
    args = ap.parse_args(argv)
    for path, how in ((args.table, "python -m benchmarks.meta_dataset"),
                      (args.gains, "python -m benchmarks.length_gain")):
        if not path.is_file():
            ap.error(f"no table at {path}: build it with {how}")
    try:
        out = output_folder("trial_choice", args.quick, args.out)
    except ValueError as exc:
        ap.error(str(exc))
    t0 = time.perf_counter()
    gain_runs = read_gain_runs(args.gains)
    meta = read_rows(args.table)
    table = cells(meta, gain_runs)
    if args.quick:
        table = dict(sorted(table.items())[:2])
    rows = score_cells(table, gain_runs, meta)
    checks = Checks()
    checks.add("cells were scored", bool(rows), f"{len(rows)} cells")
    checks.add("no rule beats the oracle", all(v >= -1e-9 for r in rows for k, v in r.items()
                                               if k.startswith("regret") and v == v), "")
    if rows:
        write_csv(out / "cells.csv", rows)
    cols = ["task", "seed", "shots", "strategies", "winner", "regret trial validation",
            "regret trial validation + gain", "regret trial test", "regret trial test + gain",
            "regret posterior + gain", "regret prediction + gain", "regret posterior + gain, fidelity noise",
            "regret one-SE by prediction + gain",
            *[f"regret always {s}" for s in ALWAYS]]
    report = [
        "# Trial choice: does a trial's validation pick the full-length winner?\n",
        (__doc__ or "").split("Usage:")[0].strip() + "\n",
        "## Regret at full length (test accuracy; best full-length strategy of the cell − the rule's pick)\n",
        markdown_table([*rows, mean_row(rows)] if rows else [], cols),
        checks.markdown(), "## Provenance\n",
        provenance("python -m benchmarks.trial_choice" + (" --quick" if args.quick else ""), [0],
                   notes=f"wall {time.perf_counter() - t0:.1f} s; no training: the meta-dataset's and the length-gain "
                         "benchmark's runs"),
    ]
    write_text_atomic(out / "README.md", "\n".join(report))
    print(markdown_table([*rows, mean_row(rows)] if rows else [], cols))
    return checks.exit_code()


if __name__ == "__main__":
    raise SystemExit(main())
