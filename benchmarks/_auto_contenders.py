"""Which single strategies the auto benchmark runs on seeds past its first three: the contenders.

The best single strategy is picked in hindsight, by mean test accuracy over a situation's seeds, among
the strategies that ran on all of them (:func:`benchmarks._auto_report.best_single`). Every applicable
strategy runs on the first seeds (:data:`BASE_SEEDS`, the issue's "at least 3 seeds"); on each further
seed, which narrows the paired confidence intervals, only the **contenders** run: the strategies whose mean
over the first seeds is within :data:`CONTENDER_GAP` of the best one's. A strategy further behind would
have to gain more than that on the new seeds alone to become the pick (on the 2-minute benchmark's runs of
2026-12-04 the best strategy below the contenders was 0.013–0.062 behind, by situation), and running all of
them costs about 2.5 hours of this machine a seed, most of it strategies tens of points behind. The hindsight
pick over more seeds is then among the contenders only, and the README says so: a strategy left out could
have been the pick only by overtaking every contender on the extra seeds by more than its gap.

This is successive halving over seeds (Jamieson & Talwalkar, AISTATS 2016), used here to spend runs on
the comparisons that can change the benchmark's outcome.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

#: the seeds every applicable single strategy runs on
BASE_SEEDS = (0, 1, 2)
#: a strategy runs on the further seeds when its mean over :data:`BASE_SEEDS` is within this of the best one's
#: (the targets' CI floor: a strategy further behind cannot be the one auto must match within it)
CONTENDER_GAP = 0.01


def contenders(runs: Sequence[Mapping[str, Any]], situation: str, applicable: Sequence[str]) -> list[str]:
    """The strategies of ``applicable`` that run on ``situation``'s seeds past :data:`BASE_SEEDS`.

    Those whose mean test accuracy over the base seeds is within :data:`CONTENDER_GAP` of the best mean; every
    one of ``applicable`` while some has not finished all base seeds (nothing can be left out yet).

    Args:
        runs: Run rows (``arm``, ``situation``, ``seed``, ``strategy``, ``accuracy``); only single strategies'
            rows of ``situation`` count, and a failed run (no accuracy) counts as not finished.
        situation: The situation's name.
        applicable: Every single strategy that can run there, in the benchmark's order (kept in the result).
    """
    acc: dict[str, dict[int, float]] = {}
    for r in runs:
        if (r.get("arm") == "single" and r.get("situation") == situation and int(r["seed"]) in BASE_SEEDS
                and r.get("accuracy") is not None):
            acc.setdefault(str(r["strategy"]), {})[int(r["seed"])] = float(r["accuracy"])
    if any(len(acc.get(s, {})) < len(BASE_SEEDS) for s in applicable):
        return list(applicable)
    means = {s: statistics.fmean(acc[s].values()) for s in applicable}
    best = max(means.values(), default=0.0)
    return [s for s in applicable if means[s] >= best - CONTENDER_GAP]


def expected_singles(runs: Sequence[Mapping[str, Any]], situation: str, applicable: Sequence[str],
                     seeds: Sequence[int]) -> list[str]:
    """The single strategies ``situation`` must have run on every one of its seeds before its hindsight pick
    counts: every applicable one when ``seeds``, and every other seed its single strategies ran on (the hindsight
    pick's pool: an invocation for seeds 0-2 is paired with the pick over all of them), are within
    :data:`BASE_SEEDS`, else its :func:`contenders`."""
    ran = {int(r["seed"]) for r in runs if r.get("arm") == "single" and r.get("situation") == situation}
    if set(seeds) | ran <= set(BASE_SEEDS):
        return list(applicable)
    return contenders(runs, situation, applicable)


def singles_for_seed(runs: Sequence[Mapping[str, Any]], situation: str, applicable: Sequence[str],
                     wanted: Sequence[str], seed: int) -> list[str]:
    """Of ``wanted`` (the single strategies an invocation asks for), those that run on ``seed``: all on a base
    seed, the :func:`contenders` on any other."""
    if seed in BASE_SEEDS:
        return list(wanted)
    keep = set(contenders(runs, situation, applicable))
    return [s for s in wanted if s in keep]
