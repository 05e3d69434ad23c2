"""Length gain: what each strategy gains from its full length over auto's trial budget.

``warmstart auto`` ranks recipes by short runs at the trial budget (:mod:`warmstart.auto.trial_budget`:
the fine-tuning family 10 epochs / 50 steps, the domain-adaptation loop 50 steps, FixMatch 30 iterations)
and retrains its winner at its strategy's full length (:mod:`warmstart.auto.final_fit`): cheap runs to
rank, one full run to finish (Li et al., "Hyperband", JMLR 2018). Strategies gain very differently from
the longer fit (digits, 5 labels per class: l2sp +0.01, fixmatch +0.15 test accuracy), so a prior fitted
on trial-budget runs ranks by the wrong score unless it also predicts a recipe's score at the full budget,
as Quick-Tune's cost- and fidelity-aware predictor does (Arango et al., "Quick-Tune", ICLR 2024). This
benchmark measures that **length gain** per strategy on a few meta-dataset cells (target and shot
level, :mod:`benchmarks._meta_tasks`): every applicable strategy at its defaults
(:func:`benchmarks._meta_portfolio.members`, ``#default`` members only) runs twice from the target's
pretrained source — at the trial budget (``trial``) and at auto's final-fit length without a time limit
(``full``: the strategy's default length) — each fit on every label of the few-shot support set
(``validation="none"``, as auto's final fit), test accuracy recorded. A strategy whose trials already
run at its defaults (``linear_probe``) has the trial run only. Trial run first, then the full run.

Runs are appended to ``OUT/runs.jsonl`` as they finish; started again with the same ``--out`` the
benchmark skips the finished ones (a run that raised a warmstart error is not retried; a run of an older
strategy revision, :data:`benchmarks._meta_portfolio.REVISION`, is run again). Sources are pretrained
once into ``WORK/sources`` (default ``OUT/work``, git-ignored).

Usage:
    python -m benchmarks.length_gain                          # every cell, seed 0 → benchmarks/results/length_gain/
    WARMSTART_THREADS=1 taskset -c 0 python -m benchmarks.length_gain --shard 0/2 --threads 1 &   # two cores
    WARMSTART_THREADS=1 taskset -c 1 python -m benchmarks.length_gain --shard 1/2 --threads 1 &
    python -m benchmarks.length_gain --report-only            # README and CSV of every finished run
    python -m benchmarks.length_gain --cells digits-rotated@5 'wine-b@1' --seeds 0 1
    python -m benchmarks.length_gain --quick                  # seconds → benchmarks/results/length_gain/quick/

Exit code 1 when a sanity check fails, 2 on a bad option.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks._length_gain_runs import Cell, GainLog, fidelities, parse_cells, run_one
from benchmarks._params import check_strategies
from benchmarks._report import output_folder
from benchmarks._shard import in_shard, parse_shard

#: the default cells, most useful first
CELLS = ("digits-rotated@5", "mnist5k-b-noisy@5", "digits-rotated@0", "mnist5k-b-noisy@0", "digits-rotated@1",
         "mnist5k-b-noisy@1", "mnist5k@5", "mnist5k-b-noisy@10", "digits-rotated@10", "wine-b@5", "iris-b@5",
         "wine-b@1", "iris-b@10", "penguins-b@5", "crabs-b@5", "pima-b@5", "penguins-b@1", "crabs-b@1", "pima-b@1")
#: --quick: one small cell, three strategies (the quick trial budget; full length 3x it), a 2-epoch source
QUICK_CELLS = ("wine-b@5",)
QUICK_STRATEGIES = ("finetune", "l2sp", "source_only")

#: one planned run: (cell, seed, strategy, fidelity, params)
Unit = tuple[Cell, int, str, str, dict[str, Any]]


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Bench:
    """Plans the runs of every cell and seed and runs this shard's missing ones."""

    def __init__(self, args: argparse.Namespace) -> None:
        from benchmarks._meta_portfolio import members

        self.args = args
        self.log = GainLog(args.out / "runs.jsonl")
        strategies = list(QUICK_STRATEGIES) if args.quick and not args.strategies else args.strategies
        self.portfolio = [m for m in members(0, quick=args.quick, strategies=strategies)
                          if m.id == f"{m.strategy}#default"]
        self.tasks: dict[str, Any] = {}
        self.sources: dict[str, Any] = {}
        self.skipped: list[str] = []  # cells that cannot be cut
        self.trial_only: set[str] = set()  # strategies with no longer length than their trials

    def source(self, cell: Cell) -> Any:
        """The cell's source: its target's checkpoint (pretrained once), carrying the target's source data task."""
        from benchmarks._auto_arms import source_checkpoints
        from warmstart.source import Source

        t = cell.target
        if t.source_task not in self.sources:
            path = source_checkpoints(self.args.work, [t.source], self.args.quick)[t.source]
            self.sources[t.source_task] = Source(path=path, task_name=t.source_task, seed=0,
                                                 spec=f"pretrained on {t.source}")
        return self.sources[t.source_task]

    def cut(self, cell: Cell, seed: int) -> Any:
        """The cell's few-shot cut of ``seed`` (None, noted in :attr:`skipped`, when the task cannot be cut)."""
        from warmstart.errors import ConfigError
        from warmstart.tasks import get_task

        name = cell.target.name
        if name not in self.tasks:
            self.tasks[name] = get_task(name)
        try:
            return self.tasks[name].few_shot(cell.shots, seed=seed)
        except ConfigError as exc:
            note = f"{cell.name} seed {seed}: {exc}"
            if note not in self.skipped:
                self.skipped.append(note)
            return None

    def run(self, execute: bool = True) -> list[Unit]:
        """Every planned run of the cells and seeds, in order; with ``execute``, run this shard's missing ones.

        Returns:
            The planned runs of this invocation's shard (every shard's with ``--report-only``).
        """
        from benchmarks._meta_portfolio import applicable

        shard = self.args.shard if execute else (0, 1)
        plan: list[Unit] = []
        for cell in self.args.cells:
            for seed in self.args.seeds:
                cut = self.cut(cell, seed)
                if cut is None:
                    continue
                runnable, _ = applicable(self.portfolio, cut)
                for m in runnable:
                    if not in_shard(f"{cell.name}|{seed}|{m.strategy}", shard):
                        continue
                    fids = fidelities(m, len(cut.y_train), self.args.quick)
                    if len(fids) == 1:
                        self.trial_only.add(m.strategy)
                    for fidelity, params in fids:
                        plan.append((cell, seed, m.strategy, fidelity, params))
                        if execute and self.log.get(cell.name, seed, fidelity, m.strategy) is None:
                            r = self.log.add(run_one(cell, seed, cut, self.source(cell), m.strategy, fidelity, params))
                            what = f"{r['test_accuracy']:.3f}" if r.get("error") is None else f"FAILED {r['error']}"
                            _log(f"{cell.name} seed {seed} {m.strategy} {fidelity}: {what} ({r['seconds']:.1f} s)")
        return plan


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark's missing runs; write README.md and length_gain.csv to ``--out``."""
    from benchmarks._length_gain_report import write_report

    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--quick", action="store_true", help=f"one cell ({QUICK_CELLS[0]}), 3 strategies, tiny training")
    p.add_argument("--cells", nargs="+", default=None, metavar="NAME@SHOTS",
                   help="meta-dataset targets at shot levels (default: the 19 of CELLS, most useful first)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="few-shot cut and training seeds (default 0)")
    p.add_argument("--strategies", nargs="+", default=None, help="only these strategies (default: every applicable)")
    p.add_argument("--shard", default="0/1", help="I/N: run only the I-th of N disjoint parts (one per core)")
    p.add_argument("--threads", type=int, default=None, help="torch threads of this process (default: all cores)")
    p.add_argument("--report-only", action="store_true", help="rewrite README and CSV from runs.jsonl; run nothing")
    p.add_argument("--out", type=Path, default=None,
                   help="results folder (default benchmarks/results/length_gain/, with --quick its quick/)")
    p.add_argument("--work", type=Path, default=None,
                   help="folder of the pretrained sources (default OUT/work; benchmarks/results/meta_dataset/work "
                        "reuses the meta-dataset's checkpoints)")
    args = p.parse_args(argv)
    try:
        args.cells = parse_cells(args.cells or list(QUICK_CELLS if args.quick else CELLS))
    except ValueError as exc:
        print(f"length_gain: {exc}", file=sys.stderr)
        return 2
    try:
        args.out = output_folder("length_gain", args.quick, args.out)
        args.shard = parse_shard(args.shard)
        check_strategies(args.strategies, "--strategies")
    except ValueError as exc:
        p.error(str(exc))
    if args.quick:
        args.seeds = [0]
    args.work = args.work or args.out / "work"
    if args.threads:
        os.environ["WARMSTART_THREADS"] = str(args.threads)
    from warmstart.engine import configure_threads

    configure_threads()
    t0 = time.perf_counter()
    bench = Bench(args)
    try:
        plan = bench.run(execute=not args.report_only)
    except KeyboardInterrupt:
        print("interrupted: writing the report of what finished; rerun to continue", file=sys.stderr)
        plan = bench.run(execute=False)
    cmd = "python -m benchmarks.length_gain " + " ".join(argv)
    intro = (__doc__ or "").split("Usage:")[0].split("\n", 1)[-1]  # the title line is the README's heading
    return write_report(args, bench, plan, intro, cmd, time.perf_counter() - t0)


if __name__ == "__main__":
    sys.exit(main())
