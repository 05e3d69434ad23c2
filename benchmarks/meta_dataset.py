"""Build the meta-dataset: real runs of the recipe portfolio over a family of tasks (issue 16).

For every target task (:mod:`benchmarks._meta_tasks`: the built-in digits and mnist5k halves, their
shifts, 2- and 5-way class subsets and the tabular halves, each with its natural pretrained source),
every shot level (0 = unlabelled pool only, 1, 2, 5, 10, 20 labels per class) and seed, every
member of the recipe portfolio (:mod:`benchmarks._meta_portfolio`: each strategy at its defaults
and at sampled settings, NAS candidates around the source) runs through
:func:`warmstart.recipe.run_recipe` with ``validation="auto"`` — scored as ``auto``'s search scores
it — and is written as a knowledge-base trial (:mod:`benchmarks._meta_store`), with the task's
meta-features, the source's LogME/LEEP on the support set, the per-epoch curve, seconds and the test
metrics kept apart. ``benchmarks/results/meta_dataset/`` gets the table (``meta_dataset.csv``: the
rows of :func:`warmstart.knowledge.trials.trial_rows` plus member, family and transferability
columns) and a README with provenance and counts.

The build is resumable: runs already in the storage (``WORK/meta.db``) are skipped, so a rerun
continues where a stopped one ended. The storage is git-ignored; on a machine where it is empty the
committed table is written back into it first (:mod:`benchmarks._meta_restore`), so a fresh clone
resumes too, and ``--report-only`` never replaces the table with an empty one. Units run tier by
tier (defaults and NAS candidates first, then sampled settings), seed by seed, so a build cut short
by ``--hours`` is balanced over tasks.
When a strategy's recipe changes after runs of it were recorded, its entry in
:data:`benchmarks._meta_portfolio.REVISION` is bumped: the revision is part of a run's resume key,
so its runs are done again, and the older revision's runs leave the table (they stay in the storage).

Size, by CPU seconds measured per run on this machine (one thread; ``--plan`` prints it for any
filter): the 33 targets × 6 shot levels × 2 seeds hold 6,576 default and NAS runs (tier 0, ~13 CPU
hours, ~7 h on two cores) and 15,096 runs of 3 sampled settings per strategy (tier 1, ~40 CPU hours).
The floor of a run is its validation (3 folds, each a training) and, for the domain-adaptation
strategies, AdaBN passes over the pool; the per-run budgets are at that floor.

Usage:
    python -m benchmarks.meta_dataset --plan                          # units and estimated hours, no run
    python -m benchmarks.meta_dataset --hours 4 --shard 0/2 --threads 1 &   # two cores: two shards
    python -m benchmarks.meta_dataset --hours 4 --shard 1/2 --threads 1 &
    python -m benchmarks.meta_dataset --report-only                   # rewrite table + README from storage
    python -m benchmarks.meta_dataset --backfill-test --shard 0/2 --threads 1 &   # full-fit test scores
                                                                      # of runs built before they existed
    python -m benchmarks.meta_dataset --quick                         # seconds → results/meta_dataset/quick/

Exit code 1 when a sanity check fails.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks._meta_portfolio import Member, applicable, members, nas_members, unit_key
from benchmarks._meta_tasks import Target, prepare_source, select_targets
from benchmarks._report import output_folder
from benchmarks._shard import in_shard, parse_shard

SHOTS = (0, 1, 2, 5, 10, 20)
SEEDS = (0, 1)
QUICK_SHOTS = (5,)
#: stages of the default backbone per modality (smallcnn, mlp): NAS candidates of a source not pretrained yet
DEFAULT_STAGES = {"image": 3, "tabular": 2}


@dataclass
class Cell:
    """One (target, shots, seed) with everything its runs share."""

    target: Target
    shots: int
    seed: int
    task: Any = None
    source: Any = None
    study: Any = None
    attrs: dict[str, Any] = field(default_factory=dict)
    units: list[tuple[Member, Any, str]] = field(default_factory=list)  # (member, recipe, unit key)


class Builder:
    """Plans and runs the units of one invocation."""

    def __init__(self, args: argparse.Namespace) -> None:
        from benchmarks._meta_restore import restore
        from warmstart.knowledge.storage import open_storage

        self.args = args
        self.work: Path = args.work
        self.storage = open_storage(self.work / "meta.db")
        self.targets = select_targets(args.tasks, args.quick)
        self.portfolio = members(args.sampled, quick=args.quick, strategies=args.strategies)
        self.sources: dict[tuple[str, str], Any] = {}
        self.tasks: dict[str, Any] = {}  # built once per invocation (shifts are recomputed on every load)
        self.skipped: list[str] = []
        self._all_targets = {t.name: t for t in select_targets(None, args.quick)}  # restored studies' records
        self.restored = restore(self.storage, args.out / "meta_dataset.csv", self.work, self._describe)
        if self.restored:
            print(f"empty storage: restored {self.restored} runs from {args.out / 'meta_dataset.csv'}",
                  file=sys.stderr)

    def _describe(self, task: str, shots: int) -> dict[str, Any]:
        """The record's info of a restored study: the seed-0 cut's description, as :meth:`prepare` writes it."""
        from warmstart.knowledge.metafeatures import task_description

        target = self._all_targets.get(task)
        if target is None:
            return {}
        return {**task_description(self.task(task).few_shot(shots, seed=0)), "family": target.family,
                "source": target.source, "source_task": target.source_task}

    def task(self, name: str) -> Any:
        """The built-in task ``name``, built once."""
        from warmstart.tasks import get_task

        if name not in self.tasks:
            self.tasks[name] = get_task(name)
        return self.tasks[name]

    # ------------------------------------------------------------------ planning
    def cells(self) -> Iterator[tuple[int, Target, int, int]]:
        """(tier, target, shots, seed) in build order, this shard's only."""
        for tier in (0, 1):
            for seed in self.args.seeds:
                for shots in self.args.shots:
                    for t in self.targets:
                        if in_shard(f"{t.name}|{shots}|{seed}", self.args.shard):
                            yield tier, t, shots, seed

    def _source(self, target: Target) -> Any:
        from warmstart.source import Source

        key = (target.source, target.source_task)
        if key not in self.sources:
            path = prepare_source(self.work, target.source, quick=self.args.quick)
            self.sources[key] = Source(path=path, task_name=target.source_task, seed=0,
                                       spec=f"pretrained on {target.source}")
        return self.sources[key]

    def _stages(self, target: Target, modality: str) -> int:
        """Stages of the target's source backbone (its checkpoint when pretrained, else the modality's default)."""
        from benchmarks._meta_tasks import source_folder
        from warmstart.backbones.checkpoint import load_checkpoint

        folder = source_folder(self.work, target.source)
        if (folder / "meta.json").exists():
            return int(load_checkpoint(folder).model.backbone.num_stages)
        return DEFAULT_STAGES[modality]

    def pending(self, tier: int, target: Target, shots: int, seed: int) -> Cell | None:
        """The cell's task cut and the units not in the storage yet (None when the task cannot be cut).

        Creates nothing: no study, no source.
        """
        from benchmarks._meta_store import stored_done_units
        from warmstart.errors import ConfigError

        task = self.task(target.name)
        try:
            cut = task.few_shot(shots, seed=seed)
        except ConfigError as exc:
            note = f"{target.name} at {shots} shots, seed {seed}: {exc}"
            if tier == 0 and note not in self.skipped:
                self.skipped.append(note)
            return None
        cell = Cell(target, shots, seed, task=cut)
        tier_members = [m for m in self.portfolio if m.tier == tier]
        if tier == 0 and not self.args.quick and self.args.strategies is None:
            tier_members += nas_members(self._stages(target, cut.modality))
        runnable, _ = applicable(tier_members, cut)
        done = stored_done_units(self.storage, cut.name, shots)
        for m in runnable:
            recipe = m.recipe(source="", source_task=target.source_task, shots=shots, seed=seed)
            key = unit_key(recipe)
            if key not in done:
                cell.units.append((m, recipe, key))
        return cell

    def prepare(self, cell: Cell) -> None:
        """Pretrain (or load) the source, open the study (its record written once), score the source."""
        from benchmarks._meta_store import fail_interrupted, has_record, open_study
        from warmstart.auto.sources import rank_sources
        from warmstart.knowledge.metafeatures import meta_features, task_description

        target, cut, shots = cell.target, cell.task, cell.shots
        src = self._source(target)
        study = open_study(self.storage, cut.name, shots, None, {})
        if not has_record(study):
            cut0 = cut if cell.seed == 0 else self.task(target.name).few_shot(shots, seed=0)
            info = {**task_description(cut0), "family": target.family, "source": target.source,
                    "source_task": target.source_task}
            study = open_study(self.storage, cut.name, shots, meta_features(cut0), info)
        fail_interrupted(self.storage, study, {k for _, _, k in cell.units})
        ranked = rank_sources(cut, [(target.source, src)])[0]
        cell.source, cell.study = src, study
        cell.attrs = {"family": target.family, "source_name": target.source,
                      "transferability": {"source": target.source, "logme": ranked.logme, "leep": ranked.leep,
                                          "gap": ranked.gap}}
        cell.units = [(m, r.replace(source=str(src.path), source_spec=src.spec), k) for m, r, k in cell.units]

    # ------------------------------------------------------------------ running
    def run(self) -> dict[str, Any]:
        """Run every pending unit until done or out of time; return counts."""
        from benchmarks._meta_store import run_unit
        from warmstart.errors import WarmstartError

        deadline = None if self.args.hours is None else time.monotonic() + self.args.hours * 3600
        total, secs, _ = self.plan()
        print(f"{total} runs to do, ~{secs / 3600:.1f} CPU hours by the costs measured so far", file=sys.stderr)
        t0 = time.monotonic()
        ran = failed = 0
        stopped = False
        for tier, target, shots, seed in self.cells():
            if deadline is not None and time.monotonic() >= deadline:
                stopped = True
                break
            cell = self.pending(tier, target, shots, seed)
            if cell is None or not cell.units:
                continue
            try:
                self.prepare(cell)
            except WarmstartError as exc:  # e.g. an incompatible source: the cell's runs cannot start
                self.skipped.append(f"{cell.task.name} at {shots} shots, seed {seed}: {exc}")
                continue
            for m, recipe, key in cell.units:
                if deadline is not None and time.monotonic() >= deadline:
                    stopped = True
                    break
                attrs = {**cell.attrs, "member": m.id, "tier": m.tier}
                res = run_unit(cell.study, cell.task, recipe, cell.source, key, attrs, device=self.args.device)
                ran += 1
                failed += res["state"] == "FAIL"
                elapsed = time.monotonic() - t0
                left = elapsed / ran * max(0, total - ran)
                what = (f"val {res['score']:.3f} test {res['test']:.3f}" if res["state"] == "COMPLETE"
                        else f"FAILED {res['error']}")
                print(f"[{ran}/{total}, {elapsed / 60:.1f} min, ~{left / 60:.0f} min left] {cell.task.name}@{shots} "
                      f"seed {seed} {m.id}: {what} ({res['seconds']:.1f} s)", file=sys.stderr, flush=True)
            if stopped:
                break
        return {"ran": ran, "failed": failed, "stopped": stopped, "minutes": (time.monotonic() - t0) / 60}

    def plan(self) -> tuple[int, float, list[str]]:
        """Pending units of this invocation, their estimated CPU seconds, and a per-tier summary."""
        from benchmarks._meta_report import costs, estimate

        table = costs(self.storage)
        lines, total_n, total_s = [], 0, 0.0
        for tier in (0, 1):
            units = []
            for t_, target, shots, seed in self.cells():
                if t_ != tier:
                    continue
                cell = self.pending(tier, target, shots, seed)
                if cell is None:
                    continue
                image = cell.task.modality == "image"
                units += [(m.strategy, image, shots) for m, _, _ in cell.units]
            secs = estimate(units, table)
            lines.append(f"tier {tier}: {len(units)} units, ~{secs / 3600:.1f} CPU hours")
            total_n, total_s = total_n + len(units), total_s + secs
        return total_n, total_s, lines


def main(argv: list[str] | None = None) -> int:
    """Build (or continue) the meta-dataset; write its table and README."""
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="2 tasks, 1 shot level, 3 recipes, tiny training")
    p.add_argument("--hours", type=float, default=None, help="wall budget; stops cleanly between runs")
    p.add_argument("--tasks", nargs="+", default=None, help="targets or families (shell patterns)")
    p.add_argument("--shots", type=int, nargs="+", default=None, help=f"shot levels (default {list(SHOTS)})")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help=f"seeds (default {list(SEEDS)})")
    p.add_argument("--strategies", nargs="+", default=None, help="only these strategies (no NAS candidates)")
    p.add_argument("--sampled", type=int, default=3, help="sampled settings per strategy (default 3)")
    p.add_argument("--shard", default="0/1", help="I/N: run only the I-th of N disjoint parts (one per core)")
    p.add_argument("--threads", type=int, default=None, help="torch threads of this process")
    p.add_argument("--device", default="cpu", help="torch device of every run (default cpu: the measured costs)")
    p.add_argument("--plan", action="store_true", help="print pending units and estimated hours; run nothing")
    p.add_argument("--report-only", action="store_true", help="rewrite the table and README from the storage")
    p.add_argument("--backfill-test", action="store_true",
                   help="refit this shard's finished runs that lack a full-fit test score on every label "
                        "(benchmarks/_meta_fulltest.py), then rewrite the table; runs no new unit")
    p.add_argument("--out", type=Path, default=None, help="results folder (default benchmarks/results/"
                                                          "meta_dataset/, with --quick its quick/)")
    p.add_argument("--work", type=Path, default=None, help="storage and sources (default OUT/work, git-ignored)")
    args = p.parse_args(argv)
    try:
        args.out = output_folder("meta_dataset", args.quick, args.out)
        args.tasks and select_targets(args.tasks, args.quick)
        args.shard = parse_shard(args.shard)
    except ValueError as exc:
        p.error(str(exc))
    args.shots = tuple(args.shots or (QUICK_SHOTS if args.quick else SHOTS))
    args.seeds = tuple(args.seeds or ((0,) if args.quick else SEEDS))
    args.work = args.work or args.out / "work"
    if args.threads:
        os.environ["WARMSTART_THREADS"] = str(args.threads)
        import torch

        torch.set_num_threads(args.threads)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    builder = Builder(args)
    if args.plan:
        n_units, secs, lines = builder.plan()
        print("\n".join([*lines, f"total: {n_units} units, ~{secs / 3600:.1f} CPU hours: ~{secs / 7200:.1f} h "
                                  "of wall time on two cores (two one-thread shards)"]))
        return 0
    summary = {"ran": 0, "failed": 0, "stopped": False, "minutes": 0.0}
    if args.backfill_test:
        from benchmarks._meta_fulltest import backfill

        try:
            done = backfill(builder.storage, builder.work, args.shard, args.hours, device=args.device)
        except KeyboardInterrupt:
            done = {"interrupted": True}
        print(f"backfill: {done}", file=sys.stderr)
        if args.shard[1] > 1:  # one shard's process does not write the table others are still filling
            return 0
        args.report_only = True
    if args.report_only:  # list the cells that cannot be cut, as a build would
        for tier, target, shots, seed in builder.cells():
            if tier == 0:
                builder.pending(tier, target, shots, seed)
    else:
        try:
            summary = builder.run()
        except KeyboardInterrupt:
            print("interrupted: writing the table of what finished; rerun to continue", file=sys.stderr)
            summary["stopped"] = True
    return report(builder, args, argv, summary)


def report(builder: Builder, args: argparse.Namespace, argv: list[str], summary: dict[str, Any]) -> int:
    """Write the table and README from the whole storage; return the checks' exit code."""
    from benchmarks._meta_report import failures, header, sanity_checks, table, write_outputs

    rows = table(builder.storage, builder.work)
    fails = failures(builder.storage)
    checks = sanity_checks(rows, builder.storage, args.quick, complete=not summary["stopped"])
    if args.report_only:
        status = "- this invocation: --report-only (table and README rewritten from the storage)"
    else:
        mine = "every planned unit" if args.shard[1] == 1 else f"every unit of shard {args.shard[0]}/{args.shard[1]}"
        status = (f"- this invocation: {summary['ran']} runs ({summary['failed']} failed) in "
                  f"{summary['minutes']:.1f} min; " + ("stopped by --hours or an interrupt: rerun to continue"
                                                       if summary["stopped"] else f"{mine} is done"))
    shard, builder.args.shard = builder.args.shard, (0, 1)  # the table is the whole storage's: so is Pending
    try:
        n_left, secs, lines = builder.plan()
    finally:
        builder.args.shard = shard
    pending = ("## Pending\n\n" + "\n".join(f"- {line}" for line in lines)
               + f"\n- total: {n_left} units, ~{secs / 3600:.1f} CPU hours (by the mean CPU seconds measured so "
               "far per strategy, modality and shots)\n")
    skipped = ("## Skipped cells\n\n" + "\n".join(f"- {s}" for s in builder.skipped) + "\n"
               if builder.skipped else "")
    write_outputs(args.out, rows, fails, header(args, argv) + status + "\n", [pending, skipped, checks.markdown()])
    print(f"{len(rows)} rows, {len(fails)} failed runs → {args.out}", file=sys.stderr)
    return checks.exit_code()


if __name__ == "__main__":
    sys.exit(main())
