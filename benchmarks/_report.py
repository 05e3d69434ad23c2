"""Shared benchmark reporting: provenance header, markdown + CSV tables, paired confidence intervals."""

from __future__ import annotations

import csv
import datetime as _dt
import io
import os
import platform
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from warmstart._atomic import write_text_atomic

RESULTS = Path(__file__).resolve().parent / "results"
QUICK = "quick"  # benchmarks/results/<name>/quick/: where --quick runs write by default (git-ignored)


def output_folder(name: str, quick: bool, out: Path | None) -> Path:
    """Where a benchmark run writes its files.

    A full run writes to ``--out`` or, by default, ``benchmarks/results/<name>/`` (the committed
    results). A ``--quick`` run writes to ``--out`` or, by default, ``benchmarks/results/<name>/quick/``,
    which git ignores; it never writes over committed results.

    Raises:
        ValueError: ``quick`` with an ``out`` inside ``benchmarks/results/`` but not in a ``quick/`` folder.
    """
    if out is None:
        return RESULTS / name / QUICK if quick else RESULTS / name
    if quick:
        resolved = out.resolve()
        inside = resolved == RESULTS or RESULTS in resolved.parents
        if inside and QUICK not in resolved.relative_to(RESULTS).parts:
            raise ValueError(f"--quick would write over the committed results in {out}; "
                             f"use another --out or leave it out (default {RESULTS / name / QUICK})")
    return out


@dataclass
class Checks:
    """Sanity checks of one benchmark run: conditions that must hold at any budget (``--quick`` included).

    They are distinct from a benchmark's *targets* (research goals such as "beats X by 10 points"),
    which a run reports whether met or not. A failed check means the run or the code is broken:
    :meth:`exit_code` is then 1, which each benchmark's ``main()`` returns.
    """

    items: list[tuple[str, bool, str]] = field(default_factory=list)

    def add(self, name: str, ok: bool, measured: str = "") -> bool:
        """Record one check (``measured``: the values it compared); return ``ok``."""
        self.items.append((name, bool(ok), measured))
        return bool(ok)

    @property
    def ok(self) -> bool:
        """Whether every recorded check held."""
        return all(ok for _, ok, _ in self.items)

    def markdown(self) -> str:
        """A ``## Checks`` section with one row per check."""
        rows = [{"check": n, "held": "yes" if ok else "NO", "measured": m} for n, ok, m in self.items]
        return "## Checks\n\n" + markdown_table(rows, ["check", "held", "measured"])

    def exit_code(self) -> int:
        """Print each failed check to stderr; 0 when all held, else 1."""
        for name, ok, measured in self.items:
            if not ok:
                print(f"check failed: {name} ({measured})", file=sys.stderr)
        return 0 if self.ok else 1


def cpu_name() -> str:
    """The processor's model name (``/proc/cpuinfo``; else what :mod:`platform` knows), for each timed run's row:
    machines differ in speed from session to session, so a time budget or a cost compares only on one."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def provenance(command: str, seeds: Sequence[int], notes: str = "") -> str:
    """Markdown lines: command, seeds, machine, threads, versions, date."""
    import torch

    cpu = cpu_name()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    lines = [
        f"- command: `{command}`",
        f"- seeds: {list(seeds)}",
        f"- machine: {platform.system()} {platform.machine()} {cpu}, {cores} cores, torch threads "
        f"{torch.get_num_threads()}, CUDA {'yes' if torch.cuda.is_available() else 'no'}",
        f"- versions: Python {sys.version.split()[0]}, torch {torch.__version__}",
        f"- date: {_dt.datetime.now().strftime('%Y-%m-%d %H:%M')}",
    ]
    if notes:
        lines.append(f"- notes: {notes}")
    return "\n".join(lines)


def markdown_table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    """Rows of dicts as a markdown table (floats to 4 significant decimals)."""
    if not rows:
        return "(no rows)\n"
    cols = list(columns or rows[0].keys())

    def fmt(v: Any) -> str:
        return f"{v:.4f}" if isinstance(v, float) else str(v)

    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join(fmt(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(out) + "\n"


def write_csv(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """Write rows atomically as CSV (union of keys as columns)."""
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols)
    w.writeheader()
    w.writerows(rows)
    write_text_atomic(path, buf.getvalue())


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value)."""
    a = np.asarray(values, dtype=float)
    return float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else 0.0


def paired_ci(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """Mean of a−b over paired seeds and its t confidence interval (lo, hi)."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    m = float(d.mean())
    if len(d) < 2:
        return m, float("nan"), float("nan")
    half = float(stats.t.ppf(0.5 + level / 2, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d)))
    return m, m - half, m + half


def mean_ci(values: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """Mean and the half-width of its normal-approximation confidence interval."""
    a = np.asarray(values, dtype=float)
    if len(a) < 2:
        return float(a.mean()), float("nan")
    return float(a.mean()), float(stats.norm.ppf(0.5 + level / 2) * a.std(ddof=1) / np.sqrt(len(a)))
