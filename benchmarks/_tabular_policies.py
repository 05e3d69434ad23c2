"""The tabular ensemble probe's policies, scored against the auto benchmark's baseline; its report.

A policy turns one cut's fits (:mod:`benchmarks.tabular_ensemble_probe`) into the model ``auto`` would return:

* ``one pick``: the prior's first strategy by utility as ``auto`` ranks for its final fit (predicted score,
  length gain, cost), returned at its full length, or at the trial's where its length gain is negative
  (auto keeps the trial's length there) — auto's own choice when nothing on the task separates the trials;
* ``one pick, no gain``: the first by predicted score alone, returned the same way;
* ``top-K``: the average of the class probabilities of the prior's first K strategies by utility, each
  returned as ``one pick`` returns it;
* ``soup top-K``: the uniform average of the weights of those K fits (one model; Wortsman et al., ICML 2022),
  where they share one architecture;
* ``all, full`` / ``all, trial`` / ``all, both``: the average over every strategy's full-length fits, trial
  fits, or both;
* ``source top-K`` / ``source, all``: one fit, chosen by its accuracy on the source task's held-out examples (its
  validation and test splits, which no fit trains on) among the prior's first K strategies by utility (or every
  strategy) at both lengths; ties: the earlier strategy, its full length first — what ``auto`` does where a
  two-sample test finds no shift between source and target (:mod:`warmstart.auto.source_validation`; every
  tabular pair here is two halves of one table);
* ``source NLL top-K``: the average of the class probabilities of the K fits (every strategy, both lengths) with
  the lowest log-loss on the source's held-out examples — a proper scoring rule resolves more than accuracy on
  20–700 labels, and an average of near-ties does not bet on one (Caruana et al.'s sorted initialization); with
  K = 5 what ``auto`` returns there since its revision 41 (:func:`warmstart.auto.soup.nll_ensemble`, whose members
  also share the best fit's architecture and inputs: of the 270 members of this policy's K = 5 averages here, one,
  a scratch fit in its own table's standardization, is not);
* ``soup NLL top-K``: the uniform weight average (a model soup, Wortsman et al., ICML 2022) of the K fits with the
  lowest source held-out log-loss among those sharing the best one's architecture — one model; what ``auto``
  returned there at its revisions 37, 38 and 40, with K = 5 (:mod:`warmstart.auto.soup`);
* ``seed soup NLL top-K xN``: the fits of ``soup NLL top-K`` (K = 1, 5), each also fitted at N − 1 more training
  seeds on the same support set, all K·N weight-averaged: a soup that also lowers the variance of each fit
  (:func:`benchmarks.tabular_ensemble_probe.seed_soups`);
* ``refit soup NLL top-K``: the fits of ``soup NLL top-K`` (K = 1, 5), each fitted again with the source's held-out
  examples added to the support set as labelled target examples, weight-averaged: the held-out labels choose, then
  train (AutoGluon's ``refit_full``); what ``auto`` returned there at its revision 39 only, with K = 5
  (:func:`benchmarks.tabular_ensemble_probe.refit_soups`): it matched fewer cells than the soup, and the auto
  benchmark's tabular situations both fell (``benchmarks/results/auto``);
* ``greedy soup, accuracy`` / ``, NLL``: the paper's greedy soup, fits taken in order of source held-out accuracy
  (ties: log-loss) and kept while the soup's held-out accuracy does not drop (or its log-loss does not rise);
* ``source + divergence (linear)`` / ``(kNN)``: one fit, the lowest source held-out error plus half the proxy
  A-distance between the source's held-out inputs and the target's in the fit's own features (``2·acc − 1`` of a
  domain classifier, logistic regression or 10 nearest neighbours, counted only where it tells the domains apart
  at p < 0.05): the two terms of the domain-adaptation bound ε_T ≤ ε_S + ½·d_HΔH + λ (Ben-David et al., Machine
  Learning 2010). Without a shift it is ``source, all``; with one it prefers the fit whose features align the
  domains.

The baseline is the auto benchmark's: the best single strategy at its defaults (its full length), picked in
hindsight per cell by mean test accuracy over the seeds. Per cell a policy's difference to it is paired by seed;
it *matches* when the mean difference is ≥ 0 and its 95% CI's lower bound ≥ −0.01 (Student t over the seeds).
The last table pairs every policy with :data:`REFERENCE`, cut by cut: whether a change of auto's policy is a gain.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._report import paired_ci

#: the policy the report pairs every other with: auto's at its revisions 37, 38 and 40 (41 returns ``source NLL top-5``)
REFERENCE = "soup NLL top-5"
#: policy name → K for the ``top-K`` ensembles
TOPS = (2, 3, 5)
#: K of the ``source top-K`` choices (None: every strategy)
SOURCE_TOPS = (1, 3, None)
#: the target's tolerance on the lower CI bound of a cell's mean paired difference
TOLERANCE = 0.01
#: K of the ``source NLL top-K`` averages
NLL_TOPS = (3, 4, 5, 7, 10)
#: a domain classifier's accuracy counts as divergence only where it beats chance at this level
DIVERGENCE_ALPHA = 0.05


def returned(order: list[dict[str, Any]], fits: Mapping[str, Any], strategy: str) -> str:
    """The fit auto returns for ``strategy`` (``order``: the prior's, ``fits``: the cut's fits by name):
    ``STRATEGY/full``, or ``/trial`` where its gain is negative or it has no longer length."""
    gain = {o["strategy"]: o["gain"] for o in order}.get(strategy, 0.0)
    full = f"{strategy}/full"
    return full if full in fits and gain >= 0 else f"{strategy}/trial"


def _acc(row: dict[str, Any], fits: list[str]) -> float:
    p = np.mean([np.asarray(row["probs"][f] if f in row["probs"] else row["soups"][f]) for f in fits], axis=0)
    return round(float((p.argmax(1) == np.asarray(row["y"])).mean()), 9)


def policies(row: dict[str, Any]) -> dict[str, float]:
    """Policy name → the test accuracy of the model it returns on this cut (see the module docstring)."""
    fitted = {f.split("/")[0] for f in row["probs"]}
    order = [o for o in row["order"] if o["strategy"] in fitted]
    by_util = [o["strategy"] for o in order]
    by_pred = [o["strategy"] for o in sorted(order, key=lambda o: -o["predicted"])]
    def ret(s: str) -> str:
        return returned(row["order"], row["probs"], s)

    out = {"one pick": _acc(row, [ret(by_util[0])]), "one pick, no gain": _acc(row, [ret(by_pred[0])])}
    for k in TOPS:
        out[f"top-{k}"] = _acc(row, [ret(s) for s in by_util[:k]])
    for k in row.get("soups", {}):
        out[k] = _acc(row, [k])
    full = [f for f in row["probs"] if f.endswith("/full")]
    trial = [f for f in row["probs"] if f.endswith("/trial")]
    out["all, full"] = _acc(row, full + [f for f in trial if f.replace("/trial", "/full") not in row["probs"]])
    out["all, trial"] = _acc(row, trial)
    out["all, both"] = _acc(row, full + trial)
    if "source_probs" in row:
        for top in SOURCE_TOPS:
            out["source, all" if top is None else f"source top-{top}"] = _acc(row, [by_source(row, by_util[:top])])
        for k in NLL_TOPS:
            out[f"source NLL top-{k}"] = _acc(row, by_source_nll(row, by_util)[:k])
    if "domain" in row:
        for kind, label in (("linear", "linear"), ("knn", "kNN")):
            out[f"source + divergence ({label})"] = _acc(row, [by_bound(row, by_util, kind)])
    return out


def _both_lengths(row: dict[str, Any], strategies: list[str]) -> list[str]:
    return [f for s in strategies for f in (f"{s}/full", f"{s}/trial") if f in row["source_probs"]]


def by_source_nll(row: dict[str, Any], strategies: list[str]) -> list[str]:
    """The fits of ``strategies`` (both lengths) from the lowest log-loss on the source's held-out examples; ties:
    the earlier strategy, its full length first."""
    y = np.asarray(row["source_y"])
    fits = _both_lengths(row, strategies)

    def nll(f: str) -> float:
        p = np.clip(np.asarray(row["source_probs"][f]), 1e-7, 1.0)
        return round(float(-np.log(p[np.arange(len(y)), y]).mean()), 9)

    return sorted(fits, key=lambda f: (nll(f), fits.index(f)))


def divergence(domain: dict[str, float], kind: str) -> float:
    """Half the proxy A-distance, ``2·acc − 1``, of a fit's domain classifier (``kind``: ``linear`` or ``knn``);
    0 where its accuracy does not beat chance at :data:`DIVERGENCE_ALPHA` (one-sided binomial test)."""
    from scipy.stats import binomtest

    acc, n = float(domain[kind]), int(domain["n"])
    if not acc > 0.5 or binomtest(round(acc * n), n, 0.5, alternative="greater").pvalue >= DIVERGENCE_ALPHA:
        return 0.0
    return 2.0 * acc - 1.0


def by_bound(row: dict[str, Any], strategies: list[str], kind: str) -> str:
    """The fit of ``strategies`` (both lengths) with the lowest source held-out error plus :func:`divergence`;
    ties: the earlier strategy, its full length first."""
    y = np.asarray(row["source_y"])
    fits = _both_lengths(row, strategies)

    def bound(f: str) -> float:
        err = 1.0 - float((np.asarray(row["source_probs"][f]).argmax(1) == y).mean())
        return round(err + divergence(row["domain"][f], kind), 9)

    return min(fits, key=lambda f: (bound(f), fits.index(f)))


def by_source(row: dict[str, Any], strategies: list[str]) -> str:
    """The fit of ``strategies`` (both lengths) with the best accuracy on the source's held-out examples; ties: the
    earlier strategy, its full length first."""
    y = np.asarray(row["source_y"])
    fits = _both_lengths(row, strategies)
    return min(fits, key=lambda f: (-round(float((np.asarray(row["source_probs"][f]).argmax(1) == y).mean()), 9),
                                    fits.index(f)))


def _default_fit(row: dict[str, Any], strategy: str) -> str:
    """A strategy at its defaults: its full-length fit, or its trial's where that is its default length."""
    return f"{strategy}/full" if f"{strategy}/full" in row["accuracy"] else f"{strategy}/trial"


def score(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(summary rows per policy, per-cell rows): each policy's paired difference to the cell's hindsight-best single
    strategy, and whether it matches it."""
    cells: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        cells[f"{r['task']}@{r['shots']}"].append(r)
    per_cell = []
    diffs_by: dict[str, list[float]] = defaultdict(list)
    matched: dict[str, int] = defaultdict(int)
    for name, rs in sorted(cells.items()):
        strategies = sorted({f.split("/")[0] for r in rs for f in r["accuracy"]})
        means = {s: statistics.fmean(_acc(r, [_default_fit(r, s)]) for r in rs) for s in strategies}
        best = max(strategies, key=lambda s: (means[s], s))
        line: dict[str, Any] = {"cell": name, "seeds": len(rs), "best single (hindsight)": f"{best} {means[best]:.4f}"}
        pol = [policies(r) for r in rs]
        base = [_acc(r, [_default_fit(r, best)]) for r in rs]
        for k in dict.fromkeys(k for p in pol for k in p):
            mine, theirs = zip(*[(p[k], b) for p, b in zip(pol, base, strict=True) if k in p], strict=True)
            _, lo, _ = paired_ci(mine, theirs)
            m = round(statistics.fmean(mine) - statistics.fmean(theirs), 9) + 0.0  # no negative zero
            ok = m >= 0 and not lo < -TOLERANCE
            matched[k] += ok
            diffs_by[k].append(m)
            line[k] = f"{m:+.4f}{'' if ok else ' NOT'}"
        per_cell.append(line)
    summary = [{"policy": k, "cells": len(v), "cells matched": matched[k],
                "mean difference": f"{statistics.fmean(v):+.4f}", "worst cell": f"{min(v):+.4f}"}
               for k, v in diffs_by.items()]
    return summary, per_cell


def versus(rows: list[dict[str, Any]], reference: str = REFERENCE) -> list[dict[str, Any]]:
    """Each policy paired with ``reference`` on the same cuts: the cuts and cells (mean over its seeds) where it is
    higher and lower, its mean difference over the cells and that mean's 95% CI lower bound (Student t over cells)."""
    pol = [policies(r) for r in rows]
    out = []
    for k in dict.fromkeys(k for p in pol for k in p):
        if k == reference:
            continue
        by_cell: dict[str, list[float]] = defaultdict(list)
        for r, p in zip(rows, pol, strict=True):
            if k in p and reference in p:
                by_cell[f"{r['task']}@{r['shots']}"].append(round(p[k] - p[reference], 9))
        cuts = [d for v in by_cell.values() for d in v]
        means = [statistics.fmean(v) for v in by_cell.values()]
        m, lo, _ = paired_ci(means, [0.0] * len(means))
        out.append({"policy": k, "cuts higher": sum(d > 0 for d in cuts), "cuts lower": sum(d < 0 for d in cuts),
                    "cells higher": sum(d > 1e-9 for d in means), "cells lower": sum(d < -1e-9 for d in means),
                    "mean over cells": f"{m + 0.0:+.4f}", "CI lower bound": f"{lo:+.4f}"})
    return out


def write_report(cells: Path, command: str, note: str = "") -> Path:
    """README.md beside ``cells``: the probe's question, the policies' summary, every cell, the provenance."""
    import benchmarks.tabular_ensemble_probe as probe
    from benchmarks._report import markdown_table, provenance
    from warmstart._atomic import write_text_atomic

    rows = [json.loads(x) for x in cells.read_text().splitlines() if x.strip()]
    summary, per_cell = score(rows)
    doc = probe.__doc__ or ""
    text = "\n".join([
        "# Tabular: one pick, an ensemble of auto's cheap fits, or the source's held-out labels? A probe", "",
        doc.split("Usage:")[0].split("\n", 2)[2].strip(), "",
        "## Policies", "", (__doc__ or "").split("\n", 2)[2].strip(), "",
        "## Summary over the cells (difference to the hindsight-best single strategy)", "",
        markdown_table(summary), "",
        "## Per cell (mean paired difference; NOT: does not match)", "", markdown_table(per_cell), "",
        f"## Every policy paired with `{REFERENCE}` (auto's policy at its revisions 37, 38 and 40), cut by cut", "",
        markdown_table(versus(rows)), "",
        "## Provenance", "", provenance(command, sorted({int(r["seed"]) for r in rows}),
                                       notes="; ".join(x for x in (f"processor {rows[0]['cpu']}", note) if x)), ""])
    path = cells.parent / "README.md"
    write_text_atomic(path, text)
    return path
