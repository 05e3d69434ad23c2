"""``auto``: pick a warm start from what the knowledge base holds, and say why.

Rules (from the tabulated benchmark, benchmarks/results/hpo_transfer/):

* no finished source study of the same kind → ``none`` (cold TPE): nothing to transfer;
* fewer than :data:`MIN_TRIALS_FOR_MODEL` source trials in all → ``topk`` (Feurer et al. 2015):
  too little data to fit a model, but the best configurations are still worth trying first;
* otherwise → :data:`DEFAULT`, the best warm start of the benchmark (topk: mean normalized regret
  after 10 trials 0.004 vs 0.012–0.017 for quantile/box and 0.037 for cold TPE, 4 held-out targets × 20 seeds).
"""

from __future__ import annotations

from warmstart.search.warm._sources import SourceTask

MIN_TRIALS_FOR_MODEL = 30
DEFAULT = "topk"


def choose(sources: list[SourceTask]) -> tuple[str, str]:
    """(warm-start name, reason) for these sources."""
    if not sources:
        return "none", "auto: the knowledge base holds no finished study of this kind, so cold TPE"
    n = sum(len(s.configs) for s in sources)
    if n < MIN_TRIALS_FOR_MODEL:
        return "topk", (f"auto: only {n} source trials from {len(sources)} tasks (< {MIN_TRIALS_FOR_MODEL}), "
                        "too few for a model; trying the nearest tasks' best configurations first")
    return DEFAULT, (f"auto: {n} source trials from {len(sources)} tasks; {DEFAULT} was the best warm start "
                     "in the hpo_transfer benchmark")
