"""Fit the prior shipped with the package on the meta-dataset's table.

The shipped prior (``warmstart/knowledge/prior_data/prior.json.gz``, read by
:func:`warmstart.knowledge.prior_files.load_prior` when the user has fitted none) is fitted on the test
accuracy of the meta-dataset's runs (``target="test_accuracy"``), with the length gains of the
length-gain benchmark's runs (``benchmarks/length_gain.py``): those tasks are built-in
benchmark tasks and shifts, never a user's, and their test labels are what says which recipe
really won. A user's own prior (``warmstart kb fit-prior``) learns from validation scores only.

Usage:
    python -m benchmarks.ship_prior                       # → warmstart/knowledge/prior_data/prior.json.gz
    python -m benchmarks.ship_prior --out /tmp/prior.json.gz --table other.csv
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from benchmarks._length_gain_runs import GAIN_RUNS, read_gain_rows
from benchmarks._prior_rows import TABLE, read_rows

SHIPPED = Path(__file__).resolve().parent.parent / "warmstart" / "knowledge" / "prior_data" / "prior.json.gz"


def main(argv: list[str] | None = None) -> int:
    """Fit and write the prior; print what it holds."""
    from warmstart.knowledge.prior import fit_prior

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table", type=Path, default=TABLE, help="the meta-dataset table (meta_dataset.csv)")
    ap.add_argument("--out", type=Path, default=SHIPPED, help="where to write the prior")
    ap.add_argument("--gains", type=Path, default=GAIN_RUNS,
                    help="runs of the length-gain benchmark (runs.jsonl): the prior's length gains")
    args = ap.parse_args(argv)
    if not args.table.is_file():
        ap.error(f"no meta-dataset table at {args.table}: build it with python -m benchmarks.meta_dataset")
    t0 = time.perf_counter()
    rows = read_rows(args.table)
    gain_rows = read_gain_rows(args.gains)
    if not gain_rows:
        print(f"no length-gain runs at {args.gains}: the prior has no length gains", file=sys.stderr)
    prior = fit_prior(rows, target="test_accuracy", gain_rows=gain_rows or None)
    path = prior.save(args.out)
    print(f"{prior.describe()} → {path} ({path.stat().st_size / 1e3:.0f} kB, {len(rows)} rows, "
          f"{time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    for n, m in enumerate(prior.portfolio, 1):
        print(f"  portfolio {n}: {m.to_json()}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
