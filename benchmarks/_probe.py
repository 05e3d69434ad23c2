"""What the probes share: the cut-by-cut run loop of a probe's ``main`` (``cells.jsonl``, then ``README.md``).

A probe (``benchmarks/ensemble_probe.py``, ``benchmarks/horizon_probe.py``) measures something per
(task, seed) cut and appends one JSON line per cut to ``OUT/cells.jsonl`` as it finishes, so that an
interrupted run keeps its finished cuts and two processes can share one folder; its report is
rewritten from every cut there (``--report-only`` rewrites it alone).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks._report import RESULTS, cpu_name, output_folder

#: the auto benchmark's sources, pretrained once: every probe fits from its ``mnist5k-a`` checkpoint
WORK = RESULTS / "auto" / "equal-time" / "work"
SOURCE_TASK = "mnist5k-a"


def probe_source(work: Path, seed: int, quick: bool) -> Any:
    """The probes' source (:data:`SOURCE_TASK`, pretrained once into ``work``) as a
    :class:`~warmstart.source.Source` for ``seed``."""
    from benchmarks._meta_tasks import prepare_source
    from warmstart.source import Source

    return Source(path=prepare_source(work, SOURCE_TASK, quick=quick), task_name=SOURCE_TASK, seed=seed)


def cut_row(task: str, shots: int, seed: int, **measured: Any) -> dict[str, Any]:
    """One cut's row for ``cells.jsonl``: the cut, what the probe measured on it, the processor, the load and when."""
    return {"task": task, "shots": shots, "seed": seed, **measured, "cpu": cpu_name(),
            "load_1m": round(os.getloadavg()[0], 2), "date": time.strftime("%Y-%m-%d %H:%M")}


def probe_parser(doc: str, strategies: Sequence[str]) -> argparse.ArgumentParser:
    """A probe's parser with the options every probe has (its cuts, strategies, output folder, report)."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--tasks", nargs="+", default=["mnist5k-b-elastic"])
    p.add_argument("--shots", type=int, default=5)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--strategies", nargs="+", default=list(strategies))
    p.add_argument("--out", type=Path, default=None, help="output folder (cuts are appended to its cells.jsonl)")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--report-only", action="store_true", help="only rewrite README.md from --out's cuts")
    p.add_argument("--note", default="", help="a line for the provenance (how the cuts were run)")
    return p


def run_probe(p: argparse.ArgumentParser, a: argparse.Namespace, name: str, argv: Sequence[str] | None,
              cell: Callable[[str, int, Path | None], dict[str, Any]], line: Callable[[dict[str, Any]], str],
              report: Callable[[Path, str, str], Path]) -> int:
    """Run probe ``name``'s cuts (``a.tasks`` × ``a.seeds``, none with ``a.report_only``) and write its report.

    Args:
        p: The probe's parser (bad ``--out`` and a report without cuts end there, exit code 2).
        a: Its parsed arguments: ``tasks``, ``seeds``, ``out``, ``quick``, ``report_only`` and ``note``.
        name: The probe's name (``benchmarks.NAME``; its results folder).
        argv: The arguments as given (None: ``sys.argv[1:]``), for the provenance's command.
        cell: (task, seed, the quick run's work folder or None for the shared one) → the cut's row.
        line: A row → the line printed when its cut finishes.
        report: (cells.jsonl, command, note) → the README written.
    """
    try:
        folder = output_folder(name, a.quick, a.out)
    except ValueError as exc:
        p.error(str(exc))
    folder.mkdir(parents=True, exist_ok=True)
    cells = folder / "cells.jsonl"
    for task, seed in [] if a.report_only else itertools.product(a.tasks, a.seeds):
        row = cell(task, seed, folder / "work" if a.quick else None)
        with cells.open("a") as f:
            f.write(json.dumps(row) + "\n")
        print(line(row), flush=True)
    command = " ".join([f"python -m benchmarks.{name}", *(argv if argv is not None else sys.argv[1:])])
    if not cells.is_file():
        p.error(f"no cuts in {folder}: run without --report-only first")
    print(f"wrote {report(cells, command, a.note)}")
    return 0


def write_probe_report(cells: Path, command: str, note: str = "", *, title: str, doc: str,
                       summary: Callable[[list[dict[str, Any]]], list[dict[str, Any]]],
                       per_cut: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> Path:
    """README.md beside ``cells``: the probe's title and what it measures, the summary over its cuts, every cut,
    and the provenance.

    Args:
        cells: The probe's ``cells.jsonl`` (one JSON row per cut, each with ``seed`` and ``cpu``).
        command: The command that wrote the report.
        note: A line for the provenance (how the cuts were run; may be empty).
        title: The report's heading.
        doc: The probe module's docstring (its text before ``Usage:``, less its first line, is the introduction).
        summary: The rows → the summary table's rows.
        per_cut: The rows → the per-cut table's rows.
    """
    from benchmarks._report import markdown_table, provenance
    from warmstart._atomic import write_text_atomic

    rows = [json.loads(x) for x in cells.read_text().splitlines() if x.strip()]
    text = "\n".join([
        f"# {title}", "", doc.split("Usage:")[0].split("\n", 2)[2].strip(), "",
        "## Summary over the cuts (test accuracy)", "", markdown_table(summary(rows)), "",
        "## Per cut", "", markdown_table(per_cut(rows)), "",
        "## Provenance", "", provenance(command, sorted({int(r["seed"]) for r in rows}),
                                       notes="; ".join(x for x in (f"processor {rows[0]['cpu']}", note) if x)), ""])
    path = cells.parent / "README.md"
    write_text_atomic(path, text)
    return path
