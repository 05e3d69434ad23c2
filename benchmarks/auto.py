"""``warmstart auto`` with its learned prior, on tasks whose family the prior never saw (issue 16).

Situations (:mod:`benchmarks._auto_situations`): the three of the previous auto benchmark —
``digits`` with 5 labels per class (source ``mnist5k``), ``mnist5k-b-rotated`` with 10 (sources
``mnist5k-a`` and ``digits``), ``digits`` with no labels (unlabelled pool only; source ``mnist5k``) —
plus ``digits`` with 1 label per class, ``mnist5k-b-inverted`` with 10 (source ``mnist5k-a``) and a
tabular target, ``breast_cancer-b`` with 5 (source ``breast_cancer-a``), and a second tabular target whose test
split resolves the targets' 0.01 tolerance, ``spam7-b`` with 5 (source ``spam7-a``; 461 test examples where
breast_cancer-b has 57, so one example is 0.2 points, not 1.8). Every source is pretrained once by the
meta-dataset's own recipe and given as a checkpoint that carries its task's data.

Per situation and seed (real runs, each on the seed's few-shot cut; test labels read only to report):

* **auto (prior)**: ``auto`` with a prior fitted (target test accuracy) on the meta-dataset's rows
  of every *other* family (leave-one-family-out: no task of the situation's family was seen),
  ``--budget`` per run, its own empty knowledge base;
* **auto (no prior)**: the same with ``prior="none"`` (the hand-written rules: the auto of before the
  prior, revision 2), on seeds 0, 1, 2 only: today's ``prior="none"`` code is not that arm (it retrains
  its winner at full length since revision 12; run on seeds 3 and 4 on 2026-12-04 it scored 0.967 and 0.978
  on ``digits-unlabelled`` with revision 2's pick, mcc, which scored 0.864–0.872 there; those rows are in
  ``superseded.jsonl``), so the benchmark does not run it (but in ``--quick``, where today's code stands in
  to exercise the path): its runs are revision 2's in ``runs.jsonl``, and a fresh ``--out`` has none
  (:func:`benchmarks._auto_revisions.may_run`; every auto run records the code revision that ran it, ``code_revision``);
* **first trial**: the auto (prior) run's first trial (the prior's first pick) retrained on every
  label as auto would retrain its winner had the search stopped after that trial: its final fit
  gets the rest of the same budget (:func:`benchmarks._auto_arms.first_trial_fit`) — what the
  prior alone gives in the same time, without a search (an auto run that ran no search is its own first
  trial, :func:`benchmarks._auto_arms.own_first_trial`);
* **single strategies**: every strategy auto could run there, at its defaults, from the situation's
  main source, fit on every label; the **best single strategy** is picked *in hindsight*, per
  situation, by mean test accuracy over the seeds; on seeds past 0, 1, 2 only the *contenders* run, the
  strategies within 0.01 of the best mean over seeds 0–2 (:mod:`benchmarks._auto_contenders`), and the
  pick over all seeds is among them;
* **oracle**: the best test accuracy of any recipe run on the same cut: the meta-dataset's runs of
  the same task, shots and seed (seed 0 only; each recipe refit on every label) and this
  benchmark's single strategies and first trial of that seed (reference only).

The two auto arms run in alternating order from seed to seed (in-process caches favour the second).
At 2 minutes auto has a fraction of a single strategy's time where that strategy runs long (the
adaptation strategies' 3,000 steps take minutes). ``--budget best-single`` makes that comparison at
equal cost too: the best single strategy (the hindsight pick among the single strategies' runs read
from ``--singles-from``, another ``--out``) runs again on this machine for each (situation, seed), just
before auto (arm ``best_single_here``), and its seconds there are that auto run's budget (at least
auto's smallest, 20 s); auto is paired with that rerun, made again whenever auto runs again (in one
process, beside the same other jobs: a fit ran 18% slower per step beside another job). Machines differ
from session to session (a run of self_training on ``digits`` took 424 CPU seconds on one and
1,090–1,180 on another), so seconds recorded elsewhere would not give equal time. Every run's row
names its processor (``cpu``). For equal conditions as well, the auto arms can run as the single
strategies did: two processes pinned to one core each (``--shard I/2 --threads 1``,
``WARMSTART_THREADS=1 taskset -c I``), splitting the (situation, seed) pairs.

The learning curve of the prior (25 %, 50 %, 100 % of the meta-dataset's tasks) is reported by
``benchmarks/prior_quality.py`` on the meta-dataset's own runs, not redone here.

Runs are appended to ``OUT/runs.jsonl`` as they finish; started again with the same ``--out``, the
benchmark skips the finished ones (sources and fitted priors are cached in ``OUT/work/``).

Each row records the sha256 of its source checkpoints (``sources_sha256``). ``OUT/work/`` is not
committed, so a fresh machine pretrains the sources again, and pretraining is not bit-reproducible
across processors: auto's final fit of mcc and mcc alone are bit-identical from one checkpoint on one
thread, yet a run from a source pretrained elsewhere differs by a test example or two. A check says
whether every auto (prior) run and the single strategies of its seed ran from the same weights (rows
of before the checksums count as unknown). The torch threads change a fit's numerics as well (mcc alone on
``mnist5k-b-rotated`` seed 0, one checkpoint, its 3,000 steps: 0.9540 on two threads, 0.9500 on one), so
every row records them (``threads``) and the provenance says which pairs ran with the same. At 2 minutes
auto runs as a user's would, one process with the machine's two threads; the single strategies it is
paired with run the same way (``--arms singles --threads 2``, one process), where the equal-time
comparison runs both on one pinned thread. The single strategies that can be the hindsight pick (within
0.01 of a situation's best mean) were run again so on 2026-12-04, from the sources the 2-minute auto runs
used; the others (all more than 0.01 below) stay from earlier machines, and the replaced rows are kept in
``superseded.jsonl`` with the reason. The memory layout changes the numerics too: since auto revision 32 the
engine trains a convolutional model in channels-last memory on CPU (``TrainConfig.channels_last``; an mcc step
on ``digits`` 18.5 ms, was 28.0), and the single strategies' runs are of before it, in contiguous memory: the
same algorithm, data and steps, their sums rounded in another order, as with the threads; the image situations'
auto runs of revision 32 are paired with them (the tabular situation's MLP has no convolution).

Usage:
    python -m benchmarks.auto                      # 2 minutes per auto run, seeds 0-4 (the issue asks 3 or more)
    python -m benchmarks.auto --arms auto          # only the auto arms (alone on the machine), then:
    python -m benchmarks.auto --arms singles --shard 0/2 --threads 1 &   # single strategies, one shard per core
    python -m benchmarks.auto --arms singles --shard 1/2 --threads 1 &
    python -m benchmarks.auto --arms none          # the report from runs.jsonl
    python -m benchmarks.auto --arms singles --seeds 3 4 --threads 2   # seeds 3 4: the contenders only
    python -m benchmarks.auto --arms prior --budget best-single --singles-from benchmarks/results/auto \
        --out benchmarks/results/auto/equal-time      # auto (prior) at the best single strategy's wall time
    python -m benchmarks.auto --arms auto --shard 0/2 --threads 1 &   # the auto arms as the single strategies
    python -m benchmarks.auto --arms auto --shard 1/2 --threads 1 &   # ran: one pinned thread each, two at once
    python -m benchmarks.auto --quick              # seconds → benchmarks/results/auto/quick/ (git-ignored)

Exit code 1 when a sanity check fails (see :func:`sanity_checks`).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks._auto_arms import (
    family_prior,
    file_hash,
    first_trial_fit,
    own_first_trial,
    run_auto,
    run_recipe_row,
    source_checkpoints,
)
from benchmarks._auto_contenders import BASE_SEEDS, CONTENDER_GAP, expected_singles, singles_for_seed
from benchmarks._auto_provenance import auto_rows, failed_rows, load_note, machine_note, sanity_checks, thread_note
from benchmarks._auto_report import (
    HERE,
    best_single_name,
    here_budget,
    per_seed,
    run_seconds,
    seconds_table,
    seed_table,
    singles_table,
    situation_stats,
    summary_table,
    targets,
)
from benchmarks._auto_revisions import ARM_REVISION, AUTO_REVISION, FIRST_FIT, RunLog, may_run, scope_text
from benchmarks._auto_situations import (
    SINGLE_LEFT_OUT,
    Situation,
    oracle_accuracy,
    select_situations,
    single_strategies,
)
from benchmarks._length_gain_runs import GAIN_RUNS, read_gain_rows
from benchmarks._params import check_strategies
from benchmarks._prior_rows import TABLE, read_rows
from benchmarks._report import markdown_table, output_folder, provenance, write_csv
from benchmarks._shard import in_shard, parse_shard
from warmstart._atomic import write_text_atomic
from warmstart.knowledge._gains import GAINS_MODEL
from warmstart.knowledge._prior_io import VERSION as PRIOR_FORMAT

#: ``--budget`` value: each (situation, seed)'s auto run gets the seconds of its best single strategy rerun here
BEST_SINGLE = "best-single"

#: the arms each ``--arms`` value runs, besides the single strategies (``all`` and ``singles``)
ARM_SETS: dict[str, tuple[str, ...]] = {"all": ("auto_prior", "auto_none", "first_trial"),
                                        "auto": ("auto_prior", "auto_none", "first_trial"),
                                        "prior": ("auto_prior",), "singles": (), "none": ()}

#: --quick: tiny training, two strategies, a budget of two trials
QUICK: dict[str, Any] = {"params": {"epochs": 1, "min_steps": 4}, "strategies": ["finetune", "linear_probe"]}


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace, sits: list[Situation]) -> tuple[list[Situation], list[dict[str, Any]],
                                                                   list[dict[str, Any]], list[str],
                                                                   dict[str, list[str]]]:
    """Run every run of ``sits`` not in ``OUT/runs.jsonl`` yet; return (the situations to report: ``sits`` and
    every other one with runs in ``OUT``, their runs of the seeds, the meta-dataset's rows, notes for the
    provenance, each reported situation's single strategies — every applicable one, whatever ``--singles``
    ran)."""
    from warmstart.tasks import get_task

    work = args.out / "work"
    log = RunLog(args.out / "runs.jsonl")
    given = RunLog(args.singles_from / "runs.jsonl") if args.singles_from else None
    singles_log = given if given is not None else log
    quick = QUICK if args.quick else None
    notes = ["quick: sources pretrained 2 epochs on 1,500 examples; 1 training epoch per fit"] if quick else []
    # the report counts only the runs of these revisions (older ones are stale and wait for a rerun)
    notes.append("auto arms at revision " + ", ".join(f"{a} {r}" for a, r in ARM_REVISION.items()))
    if not may_run("auto_none", quick is not None) and args.arms in ("all", "auto"):
        notes.append(f"auto (no prior) is not run: its arm is revision {ARM_REVISION['auto_none']}'s code, not "
                     f"today's (revision {AUTO_REVISION}); only the recorded runs of that revision count")
    latest = ARM_REVISION["auto_prior"]
    if (scope := scope_text(latest)) is not None:
        notes.append(f"auto (prior) runs of revision {latest - 1} count in the situations revision {latest} left as "
                     f"it was (it changed only {scope})")
    rows: list[dict[str, Any]] = []
    if args.table.is_file():
        rows = read_rows(args.table)
        notes.append(f"meta-dataset table {args.table}: {len(rows)} completed runs")
    else:
        notes.append(f"no meta-dataset table at {args.table}: auto (prior) and its first trial are not run "
                     "and the oracle is blank (build it with python -m benchmarks.meta_dataset, or give --table)")
    priors: dict[str, Any] = {}
    gain_rows = read_gain_rows(args.gains) if args.gains is not None and not args.quick else []
    if args.arms in ("all", "auto", "prior"):
        notes.append(f"length gains: {len(gain_rows)} runs of {args.gains}" if gain_rows else
                     f"no length gains (no runs at {args.gains}): the priors rank the trials' length only")
    for fam in dict.fromkeys(s.family for s in sits):
        if rows and args.arms in ("all", "auto", "prior"):  # only the auto arms ask a prior
            tag = (file_hash(args.table) + (f"-g{file_hash(args.gains)}-m{GAINS_MODEL}" if gain_rows else "")
                   + f"-v{PRIOR_FORMAT}")  # a prior of another file format (another ranker) is fitted again
            priors[fam], note = family_prior(rows, fam, work / "priors", tag, args.quick, gain_rows)
            notes.append(f"prior {note}")
    ckpts = source_checkpoints(work, list(dict.fromkeys(t for s in sits for t in (*s.source_tasks, s.baseline_source))),
                               args.quick)
    if given is not None:
        notes.append(f"single strategies' runs read from {args.singles_from / 'runs.jsonl'}, not run here")
    expected: dict[str, list[str]] = {}
    for sit in sits:
        cut = get_task(sit.task).few_shot(sit.shots, seed=0)
        applicable = single_strategies(cut, sit.shots, quick["strategies"] if quick else None)
        expected[sit.name] = expected_singles(list(singles_log.runs.values()), sit.name, applicable, args.seeds)
        singles = single_strategies(cut, sit.shots, quick["strategies"] if quick else args.singles)
        budget, best = args.budget, None
        if args.budget == BEST_SINGLE:
            best = best_single_name(list(singles_log.runs.values()), sit.name, args.seeds, expected[sit.name])
            if best is None:
                notes.append(f"{sit.name}: no auto run (its single strategies have not finished on every seed)")
                continue
            notes.append(f"{sit.name}: each seed's budget is the seconds of {best} (the best single strategy) run "
                         "again on this machine")
        for seed in args.seeds:
            on_seed = singles_for_seed(list(singles_log.runs.values()), sit.name, applicable, singles, seed)
            mine = ([s for s in on_seed if in_shard(f"{sit.name}|{seed}|{s}", args.shard)]
                    if args.arms in ("all", "singles") and given is None else [])
            autos = ARM_SETS[args.arms] if in_shard(f"{sit.name}|{seed}|auto", args.shard) else ()
            if best is not None and autos:  # equal time on this machine: the best single strategy timed here first
                # kept only while every auto arm it timed is kept: an auto run made again is timed against a single
                # run made just before it, in the same process, beside the same other jobs (a run beside another
                # job ran 18% slower per step: the two arms of a pair must share their conditions)
                done = all(log.get(sit.name, seed, a) is not None for a in autos)
                here = (log.get(sit.name, seed, HERE, best) if done else None) or log.add(
                    run_recipe_row(sit, seed, HERE, *_single(sit, seed, best, ckpts, quick)))
                _log(f"{sit.name} seed {seed} {best} on this machine: {here.get('accuracy')}, "
                     f"{run_seconds(here):.0f} s")
                budget = here_budget(here)
            _run_seed(sit, seed, log, priors.get(sit.family), ckpts, mine, work, budget, quick, autos=autos)
    mine_runs = list(log.runs.values()) + ([r for r in given.runs.values() if r["arm"] == "single"] if given else [])
    # the report covers every situation with runs, not only those this invocation ran (--situations)
    ran = {str(r["situation"]) for r in mine_runs}
    shown = [s for s in select_situations(None, args.quick) if s in sits or s.name in ran]
    for sit in shown:  # after the runs: the contenders of a run that did seeds 0-2 itself are known only now
        cut = get_task(sit.task).few_shot(sit.shots, seed=0)
        applicable = single_strategies(cut, sit.shots, quick["strategies"] if quick else None)
        expected[sit.name] = expected_singles(mine_runs, sit.name, applicable, args.seeds)
        if expected[sit.name] != applicable:
            notes.append(f"{sit.name}: on seeds past {', '.join(map(str, BASE_SEEDS))} only its contenders run "
                         f"(within {CONTENDER_GAP} of the best mean there): {', '.join(expected[sit.name])}")
    names = {s.name for s in shown}
    runs = [r for r in mine_runs if r["situation"] in names and int(r["seed"]) in set(args.seeds)]
    return shown, runs, rows, notes, expected


def _run_seed(sit: Situation, seed: int, log: RunLog, prior: Any, ckpts: dict[str, Path], singles: list[str],
              work: Path, budget: str, quick: dict[str, Any] | None,
              autos: tuple[str, ...] = ("auto_prior", "auto_none", "first_trial")) -> None:
    """The runs of one situation and seed not in ``log`` yet: the auto arms (in an order alternating with
    the seed) and the first trial of auto (prior), those of them in ``autos``, then each of ``singles``."""
    from warmstart.recipe import Recipe
    from warmstart.tasks import get_task
    from warmstart.tasks._task import n_items

    order = ["auto_prior", "auto_none"] if seed % 2 == 0 else ["auto_none", "auto_prior"]
    if seed not in BASE_SEEDS or not may_run("auto_none", quick is not None):  # the no-prior baseline is the auto of
        # before the prior (revision 2), run on seeds 0-2; today's prior="none" code retrains its winner at full
        # length (revision 12) and is not that baseline
        order.remove("auto_none")
    for arm in (a for a in order if a in autos):
        if log.get(sit.name, seed, arm) is None and (arm == "auto_none" or prior is not None):
            r = log.add(run_auto(sit, seed, arm, prior if arm == "auto_prior" else None, ckpts, work, budget, quick))
            _log(f"{sit.name} seed {seed} {arm}: {r.get('accuracy')} ({r.get('label') or r.get('error')})")
    prior_run = log.get(sit.name, seed, "auto_prior") or {}
    needs_first = "first_trial" in autos and log.get(sit.name, seed, "first_trial") is None
    name = f"{sit.name}-{seed}-auto_prior"
    modality = get_task(sit.task).modality if needs_first else ""  # the task is built only where it is read
    gain_of = None if prior is None else (
        lambda strategy: float(prior.raw_length_gain(strategy, sit.shots, modality)))
    own = own_first_trial(prior_run, work / "runs" / name / "run.json", gain_of) if needs_first else None
    if own is not None:
        log.add(own)
        _log(f"{sit.name} seed {seed} first trial {own['label']}: {own.get('accuracy')} (auto's own, no search)")
    elif needs_first and prior_run.get("first_trial"):
        n_labelled = n_items(get_task(sit.task).few_shot(sit.shots, seed=seed).x_train) if sit.shots else 0
        planned = first_trial_fit(work / "kb" / f"{name}.db", work / "runs" / name / "run.json",
                                  str(prior_run.get("budget") or budget), n_labelled, (quick or {}).get("params"),
                                  gain_of)
        if planned is None:
            _log(f"{sit.name} seed {seed}: no first trial to retrain (its trial failed, or {name}.db is gone)")
        else:
            recipe = Recipe.from_json(planned[0]).replace(shots=sit.shots)
            r = log.add({**run_recipe_row(sit, seed, "first_trial", recipe), "first_fit": FIRST_FIT,
                         "final_fit": planned[1]})
            _log(f"{sit.name} seed {seed} first trial {r['label']}: {r.get('accuracy')}")
    for strat in singles:
        if log.get(sit.name, seed, "single", strat) is None:
            r = log.add(run_recipe_row(sit, seed, "single", *_single(sit, seed, strat, ckpts, quick)))
            _log(f"{sit.name} seed {seed} {strat}: {r.get('accuracy')}")


def _single(sit: Situation, seed: int, strategy: str, ckpts: dict[str, Path],
            quick: dict[str, Any] | None) -> tuple[Any, Any]:
    """(recipe, source) of a single strategy at its defaults from the situation's main source."""
    from warmstart.recipe import Recipe
    from warmstart.source import Source

    src = Source(path=ckpts[sit.baseline_source], task_name=sit.baseline_source, seed=seed)
    return Recipe(strategy, (quick or {}).get("params", {}), source=str(src.path), source_task=sit.baseline_source,
                  shots=sit.shots, seed=seed), src


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; write README.md and CSVs to ``--out``."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true",
                   help="one situation, one seed, 2 trials, tiny training, a prior fitted on a few tasks")
    p.add_argument("--budget", default="2m",
                   help=f"auto's budget per run (trials, or wall time: '2m'), or {BEST_SINGLE!r}: per (situation, "
                        "seed), the seconds of its best single strategy run again here just before (equal time)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4],
                   help="every applicable single strategy runs on seeds 0 1 2, only the contenders on others")
    p.add_argument("--situations", nargs="+", default=None, metavar="NAME", help="run only these situations")
    p.add_argument("--singles", nargs="+", default=None, metavar="STRATEGY",
                   help="run only these single strategies (default: every applicable one)")
    p.add_argument("--arms", choices=tuple(ARM_SETS), default="all",
                   help="run only the auto arms (auto with and without the prior, the first trial: these need the "
                        "machine alone, their budget is wall time), only auto with the prior (prior: what the "
                        "equal-time comparison needs), only the single strategies (their accuracy does not "
                        "depend on load: two shards may share the cores), or none (rewrite the report)")
    p.add_argument("--shard", default="0/1", help="I/N: run only the I-th of N disjoint parts of the single "
                                                  "strategies' runs and of the auto arms' (situation, seed) pairs "
                                                  "(one process per core)")
    p.add_argument("--threads", type=int, default=None, help="torch threads of this process (default: all cores)")
    p.add_argument("--singles-from", type=Path, default=None, metavar="DIR",
                   help="read the single strategies' runs from DIR/runs.jsonl (a run with --arms singles) instead "
                        "of running them here")
    p.add_argument("--table", type=Path, default=TABLE, help="the meta-dataset table (meta_dataset.csv)")
    p.add_argument("--gains", type=Path, default=GAIN_RUNS,
                   help="the length-gain benchmark's runs.jsonl (the priors' length gains, leave-one-family-out)")
    p.add_argument("--out", type=Path, default=None,
                   help="results folder (default benchmarks/results/auto/, with --quick its quick/)")
    args = p.parse_args(argv)
    try:
        args.out = output_folder("auto", args.quick, args.out)
        sits = select_situations(args.situations, args.quick)
        args.shard = parse_shard(args.shard)
        check_strategies(args.singles, "--singles")
    except ValueError as exc:
        p.error(str(exc))
    if args.singles_from and not (args.singles_from / "runs.jsonl").is_file():
        p.error(f"--singles-from: no runs.jsonl in {args.singles_from}")
    if args.budget == BEST_SINGLE and args.arms == "singles":
        p.error(f"--budget {BEST_SINGLE} sets the auto arms' budget; --arms singles runs none")
    if args.budget != BEST_SINGLE:
        from warmstart.errors import ConfigError
        from warmstart.search.budget import Budget

        try:
            Budget.parse(args.budget)
        except ConfigError as exc:
            p.error(f"--budget: {exc}")
    if args.quick:
        args.budget, args.seeds = ("2" if args.budget != BEST_SINGLE else args.budget), [0]
    if args.threads:
        import os

        os.environ["WARMSTART_THREADS"] = str(args.threads)
    from warmstart.engine import configure_threads

    configure_threads()
    t0 = time.perf_counter()
    shown, runs, rows, notes, expected = run(args, sits)
    oracles = {(s.name, seed): oracle_accuracy(rows, s.key, seed) for s in shown for seed in args.seeds}
    wide = per_seed(runs, oracles)
    stats = situation_stats(wide, expected)
    checks = sanity_checks(runs, args.budget)
    cmd = "python -m benchmarks.auto " + " ".join(argv if argv is not None else sys.argv[1:])
    notes.append(load_note(runs))
    notes.append(machine_note(runs))
    notes.append(thread_note(runs))
    left = "; ".join(f"{k}: {v}" for k, v in SINGLE_LEFT_OUT.items())
    text = "\n".join([
        "# auto with its learned prior, leave-one-family-out\n", (__doc__ or "").split("Usage:")[0].strip() + "\n",
        "## Targets\n", markdown_table(targets(stats)),
        "## Per situation (test accuracy, mean ± std over seeds; differences paired by seed, 95% CI)\n",
        markdown_table(summary_table(stats)),
        "## Per seed\n", markdown_table(seed_table(wide)),
        "## Single strategies at their defaults (the hindsight pick's pool)\n",
        markdown_table(singles_table(wide, expected)),
        "## Failed runs (left out of the tables above)\n", markdown_table(failed_rows(runs)),
        "## Seconds per run (auto arms: wall seconds; a single strategy run on one thread: its CPU seconds)\n",
        markdown_table(seconds_table(runs)),
        "## auto runs\n", markdown_table(auto_rows(runs, args.out / "work")),
        "## Learning curve of the prior\n",
        "See `benchmarks/results/prior_quality/README.md` (`python -m benchmarks.prior_quality`): the prior "
        "refitted on 25 %, 50 % and 100 % of the meta-dataset's tasks, leave-one-family-out, scored on the "
        "meta-dataset's own runs.\n",
        checks.markdown(), "## Provenance\n",
        provenance(cmd, args.seeds, f"auto budget {args.budget} per run; {'; '.join(notes)}; single strategies "
                   f"left out: {left}; total {time.perf_counter() - t0:.0f} s of this invocation (finished runs of "
                   "earlier invocations are read from runs.jsonl)") + "\n"])
    args.out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.out / "README.md", text)
    write_csv(args.out / "auto.csv", wide)
    write_csv(args.out / "runs.csv", [{k: v for k, v in r.items() if k != "first_trial"} for r in runs])
    print(markdown_table(summary_table(stats)))
    return checks.exit_code()


if __name__ == "__main__":
    sys.exit(main())
