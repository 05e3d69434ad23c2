"""A self-contained HTML report of a run (plots embedded, no scripts, no network).

Sections: summary (with how the winner was chosen and where the time went),
source ranking, strategies tried (for ``auto``: whether the prior or the hand-written rules
chose them, the prior's picks with their reasons, and each completed trial's validation score,
the prior's prediction and the posterior mean), search progress (best-so-far against trials
and time, drawn only from at least :data:`MIN_PROGRESS_TRIALS` completed
trials), learning curves of the winner, Pareto front (when there are several
objectives), confusion matrix, and the exact command and versions to reproduce.
Every section is present; a section without data says so in a sentence.
"""

from __future__ import annotations

import html
import json
import platform
from pathlib import Path
from typing import Any

from warmstart._atomic import write_text_atomic
from warmstart._version import __version__
from warmstart.errors import DataError
from warmstart.report import plots

SECTIONS = ("summary", "sources", "strategies", "progress", "curves", "pareto", "confusion", "reproduce")
RUN_FILE = "run.json"
#: completed trials needed before a search-progress plot says anything
MIN_PROGRESS_TRIALS = 2
TIME_PHASES = {"setup": "loading the task and knowledge base", "pretraining": "pretraining sources",
               "ranking": "ranking sources", "search": "search",
               "source validation": "fitting candidates scored on the source's held-out labels",
               "retrain": "retraining the winner",
               "finish": "evaluating and saving", "total": "total"}

CSS = """body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
th{background:#f3f3f3}section{margin-bottom:2em}code,pre{background:#f6f6f6;padding:2px 4px}
pre{padding:8px;overflow-x:auto}.muted{color:#777}"""


def _table(rows: list[dict[str, Any]], cols: list[str] | None = None) -> str:
    if not rows:
        return '<p class="muted">nothing recorded</p>'
    cols = cols or list(rows[0])

    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.4f}"
        if isinstance(v, dict):
            return html.escape(", ".join(f"{k}={_short(x)}" for k, x in v.items()))
        return html.escape(str(v))

    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{cell(r.get(c, ''))}</td>" for c in cols) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _short(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _img(uri: str, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="{uri}">'


def completed(trials: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The completed trials with a score (rows without a ``state`` count as completed)."""
    return [t for t in trials if t.get("state", "COMPLETE") == "COMPLETE" and t.get("value") is not None]


def chosen(run: dict[str, Any]) -> str:
    """How the winner was chosen: ``run["selection"]["text"]``, or worked out from the trials."""
    sel = run.get("selection") or {}
    if sel.get("text"):
        return str(sel["text"])
    n = len(completed(run.get("trials") or []))
    if n == 0:
        return "not recorded"
    return "the only completed trial" if n == 1 else f"the best validation score among {n} completed trials"


def time_spent(run: dict[str, Any]) -> dict[str, float]:
    """Seconds per phase (``run["time"]``, else the older ``search_seconds``/``total_seconds``)."""
    spent = {k: v for k, v in (run.get("time") or {}).items() if k in TIME_PHASES and isinstance(v, (int, float))}
    if not spent:
        spent = {k: run[f"{k}_seconds"] for k in ("search", "total") if isinstance(run.get(f"{k}_seconds"),
                                                                                    (int, float))}
    return spent


def _progress(trials: list[dict[str, Any]]) -> str:
    done = completed(trials)
    if len(done) >= MIN_PROGRESS_TRIALS:
        return _img(plots.best_so_far(done), "best so far")
    what = "no trial completed" if not done else "1 trial completed"
    return (f'<p class="muted">{what}: no search progress to draw (a progress plot needs at least '
            f"{MIN_PROGRESS_TRIALS} completed trials).</p>")


def chooser(run: dict[str, Any]) -> str:
    """For an ``auto`` run: who chose the strategies (prior or rules), the picks, and the scores behind the winner.

    Empty for runs without a ``prior`` entry (other commands, older auto runs).
    """
    if "prior" not in run:
        return ""
    prior = run.get("prior")
    if not prior:
        return "<p>strategies chosen by: <b>rules</b> (the hand-written situation rules; no prior used)</p>"
    out = f"<p>strategies and first trials chosen by: <b>prior</b> ({html.escape(str(prior.get('describe')))})</p>"
    picks = [{"pick": i, "recipe": p.get("label", p.get("strategy")), "source": p.get("source"),
              "predicted vs the median recipe": p.get("predicted"), "std": p.get("std"),
              "seconds": p.get("seconds"), "why": p.get("why")}
             for i, p in enumerate(prior.get("picks") or [], 1)]
    out += "<h3>the prior's picks (the first trials)</h3>" + _table(picks)
    scored = [t for t in run.get("trials") or [] if "posterior" in t]
    if scored:
        rows = [{"trial": t["number"], "strategy": t.get("strategy"), "source": t.get("source"),
                 "validation": t.get("value"), "predicted": t.get("predicted"), "posterior": t.get("posterior"),
                 "length gain": t.get("length_gain")}
                for t in scored]
        out += ("<h3>validation / predicted / posterior of each completed trial, and what its final fit's "
                "length is expected to add</h3>") + _table(rows)
    by_source = run.get("source_validation")
    if by_source:
        combined = by_source.get("ensemble") or by_source.get("soup") or {}  # "soup": run.json of revisions 37-40
        kept = combined.get("fits") or [by_source.get("chosen")]
        rows = [{"fit": i, "strategy": f.get("strategy"), "length": f.get("length"),
                 "source held-out accuracy": f.get("source_accuracy"), "source held-out log-loss": f.get("source_nll"),
                 "seconds": f.get("seconds"), "in auto's model": "yes" if i in kept else ""}
                for i, f in enumerate(by_source.get("fits") or [])]
        if combined:
            how = "probability average" if "ensemble" in by_source else "weight average"
            rows.append({"fit": "ensemble" if "ensemble" in by_source else "soup",
                         "strategy": f"{how} of fits {', '.join(map(str, kept))}",
                         "source held-out accuracy": combined.get("source_accuracy"),
                         "source held-out log-loss": combined.get("source_nll"), "in auto's model": "yes"})
        out += (f"<h3>fits on every label scored on the source's {by_source.get('held_out')} held-out labelled "
                "examples (no shift between source and target inputs); auto's model combines those with the lowest "
                "log-loss</h3>") + _table(rows)
    stopped = [{"trial": t["number"], "strategy": t.get("strategy"), "why": t["pruned_by"]}
               for t in run.get("trials") or [] if t.get("pruned_by")]
    if stopped:
        out += "<h3>trials the prior's gray-box model stopped early</h3>" + _table(stopped)
    return out


def render(run: dict[str, Any]) -> str:
    """The report as an HTML string."""
    winner = run.get("winner") or {}
    trials = run.get("trials") or []
    parts: dict[str, str] = {}
    summary: dict[str, Any] = {k: run[k] for k in ("task", "budget", "seed", "shots") if k in run}
    if winner:
        summary["winner"] = winner.get("label", winner.get("strategy", "?"))
        summary["winner chosen as"] = chosen(run)
        for k, v in (winner.get("test") or {}).items():
            summary[f"test {k}"] = v
    for k, v in time_spent(run).items():
        summary[f"time: {TIME_PHASES[k]}"] = f"{v:.1f} s"
    parts["summary"] = _table([{"item": k, "value": v} for k, v in summary.items()])
    for note in run.get("notes", []):
        parts["summary"] += f"<p>{html.escape(str(note))}</p>"
    src = run.get("sources") or []
    parts["sources"] = _table(src)
    if src and all(s.get("logme") is not None for s in src):
        parts["sources"] += _img(plots.bars([s["source"] for s in src], [s["logme"] for s in src], "LogME"),
                                 "source ranking")
    strat = run.get("strategies") or []
    no_search = not strat and (run.get("selection") or {}).get("by") in ("prior", "source")
    parts["strategies"] = chooser(run) + (f'<p class="muted">no trial ran: {html.escape(chosen(run))}</p>'
                                          if no_search else _table(strat))
    parts["progress"] = _progress(trials)
    hist = winner.get("history") or []
    parts["curves"] = _img(plots.learning_curves(hist), "learning curves") if hist else _table([])
    par = run.get("pareto") or {}
    if par.get("points"):
        parts["pareto"] = _img(plots.pareto(par["points"], par["x"], par["y"]), "pareto front") + _table(
            [p for p in par["points"] if p.get("pareto")])
    else:
        parts["pareto"] = '<p class="muted">single objective: no Pareto front</p>'
    conf = winner.get("confusion")
    parts["confusion"] = (_img(plots.confusion(conf, winner.get("classes") or [str(i) for i in range(len(conf))]),
                               "confusion matrix") if conf else _table([]))
    versions = {"warmstart": __version__, "python": platform.python_version(), **(run.get("versions") or {})}
    parts["reproduce"] = (f"<pre>{html.escape(str(run.get('command', '')))}</pre>"
                          + _table([{"package": k, "version": v} for k, v in versions.items()]))
    titles = {"summary": "Summary", "sources": "Source ranking (transferability, no training)",
              "strategies": "Strategies tried", "progress": "Search progress",
              "curves": "Learning curves of the winner",
              "pareto": "Pareto front", "confusion": "Confusion matrix (test split)", "reproduce": "Reproduce"}
    body = "".join(f'<section id="{s}"><h2>{titles[s]}</h2>{parts[s]}</section>' for s in SECTIONS)
    title = html.escape(str(run.get("title", "warmstart run")))
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f"<style>{CSS}</style></head><body><h1>{title}</h1>{body}</body></html>")


def write_report(run: dict[str, Any] | str | Path, out: str | Path | None = None) -> Path:
    """Write the report of ``run`` (a run dict, a run folder or its run.json) atomically; return its path."""
    record: dict[str, Any]
    if isinstance(run, dict):
        record = run
    else:
        path = Path(run)
        file = path / RUN_FILE if path.is_dir() else path
        if not file.is_file():
            raise DataError(f"{path}: no {RUN_FILE} found; give a run folder written by warmstart")
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(f"{file}: unreadable run record ({exc})") from None
        out = out or file.parent / "report.html"
        record = data
    if out is None:
        raise DataError("write_report needs an output path for an in-memory run")
    write_text_atomic(out, render(record))
    return Path(out)
