"""The storage-outage rounds of the reliability benchmark: a PostgreSQL server stopped mid-study.

Each round starts a throwaway PostgreSQL cluster (the server binaries of Debian's ``postgresql``),
runs a study with worker processes, stops the server for ``down`` seconds while trials run, restarts
it, and counts the trials: every one must be found once (none lost, none duplicated). Used by
``python -m benchmarks.reliability --pg-outage SECONDS``.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from benchmarks.reliability import STUDY, _complete, _worker
from warmstart.knowledge.storage import open_storage


class _Postgres:
    """A throwaway PostgreSQL cluster in a temporary folder (the way ``.ci/services.sh`` starts one)."""

    def __init__(self, root: Path) -> None:
        import glob
        import socket

        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        pg_ctl = found[-1] if found else shutil.which("pg_ctl")
        if pg_ctl is None:
            raise FileNotFoundError("PostgreSQL server binaries not found (apt-get install postgresql)")
        self.bin = Path(pg_ctl).resolve().parent
        self.dir = root / "pg"
        self.dir.mkdir()
        self.as_user: list[str] = []
        if os.geteuid() == 0:  # the server refuses to run as root
            shutil.chown(self.dir, "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self._run("initdb", "-D", str(self.dir / "data"), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8")
        self.start()
        self.databases = 0

    def _run(self, tool: str, *args: str) -> None:

        subprocess.run([*self.as_user, str(self.bin / tool), *args], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-l", str(self.dir / "server.log"), "-w", "-t", "60",
                  "-o", f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} -c fsync=off "
                        "-c max_connections=200", "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: connections are cut, open transactions rolled back)."""
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", mode, "-w", "stop")

    def new_database(self) -> str:
        """URL of a new, empty database."""
        self.databases += 1
        name = f"outage{self.databases}"
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"


def outage_round(pg: _Postgres, n_trials: int, jobs: int, sleep: float, down: float, log: Path) -> dict[str, Any]:
    """One round of scenario 3: the server stopped for ``down`` seconds mid-study; returns its counts."""
    url = pg.new_database()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    optuna.create_study(study_name=STUDY, storage=open_storage(url))
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_worker, args=(url, n_trials, str(log), sleep)) for _ in range(jobs)]
    for p in procs:
        p.start()
    t0 = time.monotonic()
    before: dict[int, float] = {}
    while not before and time.monotonic() - t0 < 60:  # some trials done, the study still running
        time.sleep(0.05)
        before = _complete(url)
    pg.stop("fast")
    stopped = time.monotonic()
    time.sleep(down)
    pg.start()
    down_s = time.monotonic() - stopped  # stop, pause and restart: how long the server was unreachable
    for p in procs:
        p.join(timeout=300)
        if p.is_alive():
            p.kill()
    study = optuna.load_study(study_name=STUDY, storage=open_storage(url))
    trials = study.get_trials(deepcopy=False)
    final = {t.number: t.value for t in trials if t.state == TrialState.COMPLETE}
    lost = {n for n, v in before.items() if final.get(n) != v}
    runs: dict[int, list[float]] = {}
    for line in log.read_text().splitlines() if log.exists() else []:
        num, _pid, value = line.split()
        runs.setdefault(int(num), []).append(float(value))
    lost |= {n for n, values in runs.items() if any(final.get(n) != v for v in values)}  # no worker was killed
    numbers = [t.number for t in trials]
    duplicates = (len(numbers) - len(set(numbers))) + sum(len(v) - 1 for v in runs.values())
    reasons = [str(t.user_attrs.get("fail_reason", "")) for t in trials if t.state == TrialState.FAIL]
    return {"expected": n_trials, "found": sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials),
            "lost": len(lost), "duplicates": duplicates,
            "interrupted": 0, "surplus": sum(r.startswith("surplus") for r in reasons),
            "still_running": sum(t.state == TrialState.RUNNING for t in trials),
            "exit_codes_bad": sum(1 for p in procs if p.exitcode != 0),
            "half_written": 0, "down_s": round(down_s, 1),
            "done_at_stop": len(before), "other_failed": sum(not r.startswith("surplus") for r in reasons)}


def run_outages(rounds: int, n_trials: int, jobs: int, sleep: float, down: float, first: int) -> list[dict[str, Any]]:
    """``rounds`` rounds of scenario 3 on one throwaway cluster (none, with a note, without PostgreSQL)."""
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="ws-rel-pg-") as tmp:
        os.chmod(tmp, 0o755)  # the server's user must reach its folder
        try:
            pg = _Postgres(Path(tmp))
        except (FileNotFoundError, OSError, RuntimeError) as exc:
            print(f"storage outage rounds skipped: {exc}", file=sys.stderr)
            return rows
        except Exception as exc:  # initdb/pg_ctl failed (CalledProcessError)
            print(f"storage outage rounds skipped: cannot start PostgreSQL ({exc})", file=sys.stderr)
            return rows
        try:
            for r in range(rounds):
                t0 = time.perf_counter()
                row: dict[str, Any] = {"round": first + r + 1, "storage": f"postgresql, down {down:g} s"}
                row.update(outage_round(pg, n_trials, jobs, sleep, down, Path(tmp) / f"runs{r}.log"))
                row["seconds"] = round(time.perf_counter() - t0, 2)
                rows.append(row)
                print(f"outage round {r + 1}/{rounds}: expected {row['expected']} found {row['found']} lost "
                      f"{row['lost']} duplicates {row['duplicates']} (done before the stop {row['done_at_stop']}, "
                      f"surplus {row['surplus']}, other failed {row['other_failed']})", file=sys.stderr)
        finally:
            try:
                pg.stop("immediate")
            except Exception:  # already stopped
                pass
    return rows


# ----------------------------------------------------------------------------- main
