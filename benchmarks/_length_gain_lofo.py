"""Do the length gains pick the better model? Leave-one-family-out on the length-gain benchmark's runs.

For each cell, the gains (:class:`warmstart.knowledge._gains.LengthGains`) are fitted on the runs of
every *other* family, and three picks among the cell's strategies are compared by the test accuracy
of the pick's **full-length** model — what ``auto`` returns after retraining its winner:

* ``by trial``: the best test accuracy at the trial budget (how the trials rank without gains);
* ``by trial + gain``: the best trial accuracy plus the strategy's predicted length gain over it (the share
  of its error the full length keeps, from the pairs of the cell's modality; a negative gain counts as none),
  ties to the better trial — as ``auto``'s final choice scores its trials — scored by the model auto
  returns: the full-length one, or the trial's where the strategy's gain is negative (auto keeps the
  trials' length there);
* ``oracle``: the best full-length accuracy (reference only).

The trial accuracies here are test accuracies of the recipe fit on every label (no validation noise),
so the table isolates what the gains add to the ranking, not the search's noise.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any

from benchmarks._length_gain_runs import accuracy, pairs
from warmstart.knowledge._gains import LengthGains


def lofo_picks(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (cell, seed) with two or more strategies run at both lengths (see the module docstring)."""
    cells: dict[tuple[str, int], dict[str, dict[str, float]]] = defaultdict(dict)
    family: dict[str, str] = {}
    modality: dict[str, str | None] = {}
    for (cell, seed, strategy), fids in pairs(runs).items():
        accs = {f: a for f, r in fids.items() if (a := accuracy(r)) is not None}
        if "trial" in accs and "full" in accs:
            cells[(cell, seed)][strategy] = accs
            family[cell] = str(next(iter(fids.values()))["family"])
            modality[cell] = next(iter(fids.values())).get("modality")
    gains: dict[str, LengthGains | None] = {}
    out = []
    def order(key: tuple[str, int]) -> tuple[str, int, int]:  # task, shots, seed
        task, _, shots = key[0].rpartition("@")
        return task, int(shots), key[1]

    for (cell, seed), both in sorted(cells.items(), key=lambda kv: order(kv[0])):
        shots = int(cell.rpartition("@")[2])
        if len(both) < 2:
            continue
        fam = family[cell]
        if fam not in gains:
            gains[fam] = LengthGains.fit([r for r in runs if r.get("family") != fam])
        g = gains[fam]
        raw = {s: g.gain(s, shots, modality=modality[cell], score=v["trial"]) if g is not None else 0.0
               for s, v in both.items()}
        predicted = {s: v["trial"] + max(0.0, raw[s]) for s, v in both.items()}
        # what auto returns: the full-length model, or the trial's where the gain is negative (it keeps that length)
        returned = {s: v["trial"] if raw[s] < 0 else v["full"] for s, v in both.items()}
        by_trial = max(both, key=lambda s: (both[s]["trial"], s))
        by_gain = max(both, key=lambda s: (predicted[s], both[s]["trial"], s))
        oracle = max(both, key=lambda s: (both[s]["full"], s))
        out.append({"cell": cell, "seed": seed, "strategies": len(both),
                    "by trial": f"{by_trial} {both[by_trial]['full']:.4f}",
                    "by trial + gain": f"{by_gain} {returned[by_gain]:.4f}",
                    "oracle": f"{oracle} {both[oracle]['full']:.4f}",
                    "_trial": both[by_trial]["full"], "_gain": returned[by_gain], "_oracle": both[oracle]["full"],
                    "gains from": "no other family" if g is None else g.describe()})
    return out


def lofo_summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean test accuracy of the model each pick returns over the rows of :func:`lofo_picks`, and its regret."""
    if not rows:
        return []
    oracle = statistics.fmean(r["_oracle"] for r in rows)
    out = []
    for name, k in (("by trial", "_trial"), ("by trial + gain", "_gain"), ("oracle", "_oracle")):
        mean = statistics.fmean(r[k] for r in rows)
        out.append({"pick": name, "cells": len(rows), "test accuracy of the model returned": f"{mean:.4f}",
                    "regret (oracle − pick)": f"{oracle - mean:.4f}"})
    return out


def public(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows without their private numeric columns (for the table)."""
    return [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]
