"""Reliability benchmark: fault scenarios in a loop, counting what gets lost.

Each round runs, on a fresh knowledge base (alternately a SQLite file and an
Optuna journal file):

1. **Concurrent workers with kills.** ``--jobs`` worker processes share one
   study with a budget of ``--trials`` trials (trivial objectives: this measures
   the runner, not training). At a random moment one worker is killed with
   SIGKILL, usually in the middle of a trial, and restarted (the same command
   run again); a second kill hits another worker later. The study must end with
   exactly the budget of counted trials; every trial that was COMPLETE when a
   kill happened must still be there, unchanged (else *lost*); every objective
   that returned in a worker that was never killed must be recorded (else
   *lost*); no trial number or execution may appear twice (*duplicates*).
2. **Killed writers.** A process that keeps writing a checkpoint (safetensors +
   JSON, :func:`warmstart.backbones.checkpoint.save_checkpoint`) and a report
   (:func:`warmstart._atomic.write_text_atomic`) is killed at a random moment;
   the checkpoint must be absent or load with its hash verified, the report
   absent or one of the complete versions (else *half-written*).

3. **Storage outage** (``--pg-outage SECONDS``, default 10 in a full run, off with
   ``--quick`` unless given): on a throwaway PostgreSQL cluster started by the
   benchmark (as ``.ci/services.sh`` does; skipped with a note when no server
   binaries are installed), ``--jobs`` workers share a study; once trials have
   completed, the server is stopped (``pg_ctl stop -m fast``) for SECONDS and
   started again. The workers wait and retry (bounded, :mod:`warmstart.search.outage`)
   and the study must end with exactly the budget, nothing lost or duplicated.

Prints rounds, trials expected, trials found, lost (must be 0), duplicates
(must be 0), half-written files (must be 0), plus the interrupted trials that
were marked failed. ``--quick``: 2 small rounds (the test suite), results to
``benchmarks/results/reliability/quick/`` (git-ignored) unless ``--out``; full run:
results to ``benchmarks/results/reliability/``. Exit code 1 when a check fails.

Usage: python -m benchmarks.reliability [--quick] [--rounds 20] [--trials 16] [--jobs 4] [--pg-outage 10]
[--out DIR]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from benchmarks._report import Checks, markdown_table, output_folder, provenance, write_csv
from warmstart._atomic import write_text_atomic
from warmstart.knowledge.storage import open_storage
from warmstart.search.faults import run_trials

STUDY = "reliability"


# ----------------------------------------------------------------------------- scenario 1: workers
def _log(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, (text + "\n").encode())
    finally:
        os.close(fd)


def _worker(url: str, n_trials: int, log: str, sleep: float) -> None:
    os.environ["WARMSTART_THREADS"] = "1"
    rng = random.Random(os.getpid())
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.load_study(study_name=STUDY, storage=open_storage(url),
                              sampler=optuna.samplers.RandomSampler(seed=os.getpid()))

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", -10, 10)
        time.sleep(rng.uniform(0.2, 1.8) * sleep)
        _log(Path(log), f"{trial.number} {os.getpid()} {x * x!r}")
        return x * x

    run_trials(study, objective, n_trials=n_trials, poll=0.02)
    os._exit(0)


def _complete(url: str) -> dict[int, float]:
    study = optuna.load_study(study_name=STUDY, storage=open_storage(url))
    return {t.number: float(t.value) for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.value is not None}


def workers_round(url: str, n_trials: int, jobs: int, sleep: float, kills: int, rng: random.Random,
                  log: Path) -> dict[str, Any]:
    """One round of scenario 1; returns its counts."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    optuna.create_study(study_name=STUDY, storage=open_storage(url))
    ctx = mp.get_context("fork")

    def start() -> Any:
        p = ctx.Process(target=_worker, args=(url, n_trials, str(log), sleep))
        p.start()
        return p

    procs = [start() for _ in range(jobs)]
    killed: set[int] = set()
    snapshots: list[dict[int, float]] = []
    expected_time = n_trials * sleep / jobs
    for _ in range(kills):
        time.sleep(rng.uniform(0.1, 0.6) * expected_time)
        alive = [p for p in procs if p.is_alive()]
        if not alive:
            break
        victim = rng.choice(alive)
        os.kill(victim.pid, signal.SIGKILL)
        victim.join()
        killed.add(victim.pid)
        snapshots.append(_complete(url))
        procs.append(start())  # the same command, run again
    for p in procs:
        p.join(timeout=120)
        if p.is_alive():
            p.kill()
    study = optuna.load_study(study_name=STUDY, storage=open_storage(url))
    trials = study.get_trials(deepcopy=False)
    final = {t.number: t.value for t in trials if t.state == TrialState.COMPLETE}
    lost = {n for snap in snapshots for n, v in snap.items() if final.get(n) != v}
    runs: dict[int, list[tuple[int, float]]] = {}
    for line in log.read_text().splitlines() if log.exists() else []:
        f_num, f_pid, f_value = line.split()
        runs.setdefault(int(f_num), []).append((int(f_pid), float(f_value)))
    for num, execs in runs.items():
        for pid, value in execs:
            if pid not in killed and final.get(num) != value:
                lost.add(num)
    numbers = [t.number for t in trials]
    duplicates = (len(numbers) - len(set(numbers))) + sum(len(e) - 1 for e in runs.values())
    reasons = [str(t.user_attrs.get("fail_reason", "")) for t in trials if t.state == TrialState.FAIL]
    return {"expected": n_trials, "found": sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials),
            "lost": len(lost), "duplicates": duplicates,
            "interrupted": sum("died during the trial" in r for r in reasons),
            "surplus": sum(r.startswith("surplus") for r in reasons),
            "still_running": sum(t.state == TrialState.RUNNING for t in trials),
            "exit_codes_bad": sum(1 for p in procs if p.pid not in killed and p.exitcode != 0)}


# ----------------------------------------------------------------------------- scenario 2: writers
def _writer(folder: str) -> None:
    import torch

    from warmstart.backbones import create_backbone
    from warmstart.backbones.checkpoint import save_checkpoint
    from warmstart.backbones.classifier import Classifier

    torch.set_num_threads(1)
    i = 0
    while True:
        torch.manual_seed(i)
        model = Classifier(create_backbone("mlp", in_chans=64, hidden=(256, 256)), n_classes=10)
        save_checkpoint(model, Path(folder) / "ckpt", classes=[str(c) for c in range(10)], source_task="bench")
        write_text_atomic(Path(folder) / "report.html", _report_text(i))
        i += 1


def _report_text(i: int) -> str:
    return f"<html><!-- version {i} -->" + "x" * 200_000 + f"<!-- end {i} --></html>"


def writers_round(folder: Path, rng: random.Random) -> int:
    """One round of scenario 2; returns the number of half-written files found."""
    from warmstart.backbones import create_backbone  # noqa: F401  (imported before the fork: the child starts at once)
    from warmstart.backbones.checkpoint import load_checkpoint
    from warmstart.backbones.classifier import Classifier  # noqa: F401
    from warmstart.errors import CheckpointError

    p = mp.get_context("fork").Process(target=_writer, args=(str(folder),))
    p.start()
    t0 = time.monotonic()
    while not (folder / "report.html").exists() and time.monotonic() - t0 < 60:  # the first versions are out
        time.sleep(0.01)
    time.sleep(rng.uniform(0.0, 0.5))  # then kill it anywhere in its write loop
    assert p.pid is not None  # started above
    os.kill(p.pid, signal.SIGKILL)
    p.join()
    bad = 0
    if (folder / "ckpt").exists():
        try:
            load_checkpoint(folder / "ckpt")
        except CheckpointError:
            bad += 1
    report = folder / "report.html"
    if report.exists():
        text = report.read_text()
        head = text[len("<html><!-- version "):].split(" ", 1)[0]
        bad += int(text != _report_text(int(head)) if head.isdigit() else 1)
    return bad


# ----------------------------------------------------------------------------- scenario 3: storage outage
def run(rounds: int, n_trials: int, jobs: int, sleep: float, kills: int, seed: int) -> list[dict[str, Any]]:
    """All rounds; one row per round."""
    rng = random.Random(seed)
    rows = []
    for r in range(rounds):
        with tempfile.TemporaryDirectory(prefix="ws-rel-") as tmp:
            kind = "sqlite" if r % 2 == 0 else "journal"
            url = f"sqlite:///{tmp}/kb.db" if kind == "sqlite" else f"journal:{tmp}/kb.log"
            t0 = time.perf_counter()
            row: dict[str, Any] = {"round": r + 1, "storage": kind}
            row.update(workers_round(url, n_trials, jobs, sleep, kills, rng, Path(tmp) / "runs.log"))
            row["half_written"] = writers_round(Path(tmp), rng)
            row["seconds"] = round(time.perf_counter() - t0, 2)
        rows.append(row)
        print(f"round {r + 1}/{rounds} {kind}: expected {row['expected']} found {row['found']} lost {row['lost']} "
              f"duplicates {row['duplicates']} half-written {row['half_written']} "
              f"(interrupted {row['interrupted']}, surplus {row['surplus']})", file=sys.stderr)
    return rows


def totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The summary line."""
    keys = ("expected", "found", "lost", "duplicates", "half_written", "interrupted", "surplus", "still_running",
            "exit_codes_bad")
    out: dict[str, Any] = {"rounds": len(rows)}
    out.update({k: sum(int(r[k]) for r in rows) for k in keys})
    return out


def _plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from warmstart._atomic import atomic_path

    fig, ax = plt.subplots(figsize=(6, 3))
    x = [r["round"] for r in rows]
    ax.bar(x, [r["found"] for r in rows], color="#4c78a8", label="trials found")
    ax.plot(x, [r["expected"] for r in rows], "k--", label="expected")
    ax.bar(x, [r["interrupted"] for r in rows], color="#e45756", label="interrupted (failed)")
    ax.set_xlabel("round")
    ax.set_ylabel("trials")
    ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when nothing was lost, duplicated or half-written."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 small rounds (< 20 s)")
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--trials", type=int, default=16, help="trial budget of each round's study")
    ap.add_argument("--jobs", type=int, default=4)
    ap.add_argument("--sleep", type=float, default=0.15, help="mean seconds of one trivial trial")
    ap.add_argument("--kills", type=int, default=2, help="workers killed (and restarted) per round")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pg-outage", type=float, default=None,
                    help="seconds the PostgreSQL server is down in each storage-outage round (0: no such round; "
                         "default 10, with --quick 0)")
    ap.add_argument("--outage-rounds", type=int, default=2, help="storage-outage rounds (with --pg-outage > 0)")
    ap.add_argument("--out", type=Path, default=None,
                    help="results folder (default benchmarks/results/reliability/, with --quick its quick/)")
    args = ap.parse_args(argv)
    try:
        args.out = output_folder("reliability", args.quick, args.out)
    except ValueError as exc:
        ap.error(str(exc))
    if args.quick:
        args.rounds, args.trials, args.jobs, args.sleep, args.kills = 2, 8, 3, 0.1, 1
    rows = run(args.rounds, args.trials, args.jobs, args.sleep, args.kills, args.seed)
    down = args.pg_outage if args.pg_outage is not None else (0.0 if args.quick else 10.0)
    from benchmarks.reliability_outage import run_outages  # the PostgreSQL-outage rounds

    outages = run_outages(args.outage_rounds, args.trials, args.jobs, 0.6, down, len(rows)) if down > 0 else []
    rows += outages
    tot = totals(rows)
    print(markdown_table([tot]))
    command = "python -m benchmarks.reliability " + " ".join(argv if argv is not None else sys.argv[1:])
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(args.out / "rounds.csv", rows)
    write_csv(args.out / "summary.csv", [tot])
    _plot(rows, args.out / "reliability.png")
    checks = Checks()
    checks.add("every budgeted trial found", tot["found"] == tot["expected"], f"{tot['found']} of {tot['expected']}")
    for key in ("lost", "duplicates", "half_written", "still_running", "exit_codes_bad"):
        checks.add(f"{key.replace('_', ' ')}: 0", tot[key] == 0, str(tot[key]))
    if down > 0:
        stopped_mid = bool(outages) and all(r["done_at_stop"] < r["expected"] for r in outages)
        checks.add(f"storage outage rounds ran, the server down {down:g} s mid-study", stopped_mid,
                   f"{len(outages)} rounds" if outages else "no PostgreSQL server binaries on this machine")
    ok = checks.ok
    text = ["# Reliability: kills, concurrent workers, killed writers", "",
            "Each round: a study with a trial budget shared by worker processes on a fresh knowledge base "
            "(SQLite and journal file alternately), workers killed with SIGKILL at random moments and "
            "restarted, then a checkpoint/report writer killed at a random moment. Trivial objectives "
            "(this measures the runner and the storage, not training).", "",
            "## Totals", "", markdown_table([tot]),
            f"Verdict: {'nothing lost, duplicated or half-written' if ok else 'FAILURES, see rounds.csv'}.", "",
            checks.markdown(), "## Rounds", "", markdown_table(rows),
            "![trials per round](reliability.png)", "", "## Provenance", "",
            provenance(command, [args.seed],
                       f"rounds {args.rounds}, budget {args.trials} trials, {args.jobs} workers, "
                       f"{args.kills} kills per round, mean trial {args.sleep} s"), ""]
    write_text_atomic(args.out / "README.md", "\n".join(text))
    return checks.exit_code()


if __name__ == "__main__":
    sys.exit(main())
