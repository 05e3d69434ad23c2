"""Does a new prior change what the auto benchmark's runs decide? A check without training.

An auto revision that only refits the priors (new rows in the meta-dataset) changes a situation's runs
only where the prior plans otherwise. This compares, for every situation and seed of
:mod:`benchmarks._auto_situations`, two priors' plans as ``auto`` makes them before any trial: the first
three picks with their utilities (:meth:`warmstart.knowledge.prior.Prior.suggest`) and whether a search
runs at all (:func:`warmstart.auto.cost_stop.search_pays`, which reads the first two picks; a run without
a search fits the first pick with the whole budget). The old priors are the benchmark's cached ones
(``OUT/work/priors/<family>-<TAG>.json.gz``), the new ones are fitted from ``--table`` and ``--gains``
as the benchmark fits them; each run's sources and their LogME/LEEP/gap are read from its ``run.json``.

Usage:
    python -m benchmarks.auto_plan_check --old-tag b8555003c2aa-gd27191730de8-m2-v4 > plans.txt
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from benchmarks._auto_arms import family_prior, file_hash
from benchmarks._auto_situations import SITUATIONS, Situation
from benchmarks._length_gain_runs import GAIN_RUNS, read_gain_rows
from benchmarks._prior_rows import TABLE, read_rows

BUDGET_SECONDS = 120.0


def plan_of(prior: Any, sit: Situation, seed: int, run: dict[str, Any]) -> tuple[list[tuple[str, float]], bool]:
    """(the first three picks as (strategy, utility), whether a search runs) of ``prior`` for one run."""
    from warmstart.auto.cost_stop import search_pays
    from warmstart.auto.prior_plan import plan_with_prior
    from warmstart.knowledge.metafeatures import meta_features
    from warmstart.search.budget import Budget
    from warmstart.tasks import get_task

    task = get_task(sit.task).few_shot(sit.shots, seed=seed)
    sources = [SimpleNamespace(name=Path(s["source"]).name, logme=s["logme"], leep=s["leep"], gap=s["domain_gap"],
                               path=Path(s["source"])) for s in run["sources"]]
    plan = plan_with_prior(prior, task, meta_features(task), sources,
                           labels_per_class=run["situation"]["labels_per_class"], has_source_data=True,
                           budget=Budget(seconds=BUDGET_SECONDS))
    verdict = search_pays(plan, task, seed, seconds_left=BUDGET_SECONDS - 2.0)
    return [(p.spec.strategy, round(p.utility, 3)) for p in plan.picks], verdict.run


def main(argv: list[str] | None = None) -> int:
    """Print one line per (situation, seed): SAME or DIFF, and both plans."""
    from warmstart.knowledge._gains import GAINS_MODEL
    from warmstart.knowledge._prior_io import VERSION
    from warmstart.knowledge.prior import Prior

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--old-tag", required=True, help="the cached priors' tag (their file names' part after family-)")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/auto"), help="the benchmark's --out")
    p.add_argument("--table", type=Path, default=TABLE, help="the meta-dataset table of the new priors")
    p.add_argument("--gains", type=Path, default=GAIN_RUNS, help="the length-gain runs of the new priors")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    args = p.parse_args(argv)
    rows, gains = read_rows(args.table), read_gain_rows(args.gains)
    tag = file_hash(args.table) + f"-g{file_hash(args.gains)}-m{GAINS_MODEL}-v{VERSION}"
    work = args.out / "work"
    old: dict[str, Any] = {}
    new: dict[str, Any] = {}
    for sit in SITUATIONS:
        if sit.family not in old:
            path = work / "priors" / f"{sit.family}-{args.old_tag}.json.gz"
            if not path.is_file():
                p.error(f"no cached prior {path}")
            old[sit.family] = Prior.load(path)
            new[sit.family], note = family_prior(rows, sit.family, work / "priors", tag, False, gains)
            print(f"new prior {note}")
    for sit in SITUATIONS:
        for seed in args.seeds:
            run_json = work / "runs" / f"{sit.name}-{seed}-auto_prior" / "run.json"
            if not run_json.is_file():
                print(f"{sit.name} {seed}: no run")
                continue
            run = json.loads(run_json.read_text())
            before, after = plan_of(old[sit.family], sit, seed, run), plan_of(new[sit.family], sit, seed, run)
            same = [s for s, _ in before[0][:2]] == [s for s, _ in after[0][:2]] and before[1] == after[1]
            print(f"{sit.name} {seed} {'SAME' if same else 'DIFF'}: picks {before[0]} search {before[1]} -> "
                  f"picks {after[0]} search {after[1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
