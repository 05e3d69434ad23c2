"""Would auto gain from returning an ensemble of its top recipes instead of one? A probe.

``auto``'s final choice is one recipe; at equal time with the best single strategy it can gain
over that strategy only where another recipe beats it on the same cut, and the oracle's headroom
over the hindsight-best single strategy is 0.000–0.005 on the auto benchmark's situations
(``benchmarks/results/auto/equal-time``). An ensemble of fits from different recipes is not bound
by that headroom (Caruana et al., "Ensemble Selection from Libraries of Models", ICML 2004; the
weighted ensembles of AutoGluon and auto-sklearn). This probe measures what it could add, on tasks
that are *not* the auto benchmark's situations (the meta-dataset's other shifts of ``mnist5k-b``),
so no design choice is made on those situations' test labels.

Per (task, shots, seed): each strategy at its defaults is fit on every label of the few-shot cut
from the ``mnist5k-a`` source (``run_recipe``, ``validation="none"``, as the single strategies of
the auto benchmark), and the test accuracy is reported for each fit alone, for the average of
every pair's and the triple's class probabilities, and for the uniform weight average of the
models that share one architecture ("model soup", Wortsman et al., ICML 2022). A member ``mcc#1`` is mcc
trained with another seed on the same cut (a seed ensemble: ``mcc+mcc#1``).

Usage:
    python -m benchmarks.ensemble_probe --tasks mnist5k-b-elastic mnist5k-b-blurred --shots 5 --seeds 0 1
    python -m benchmarks.ensemble_probe --tasks mnist5k-b-elastic --strategies mcc mcc#1 mcc#2 --seeds 0 1
    python -m benchmarks.ensemble_probe --quick      # tiny training → benchmarks/results/ensemble_probe/quick/
    python -m benchmarks.ensemble_probe --report-only  # rewrite README.md from cells.jsonl
"""

from __future__ import annotations

import functools
import itertools
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks._probe import SOURCE_TASK, WORK, cut_row, probe_parser, probe_source, run_probe, write_probe_report

TITLE = "Ensembles of auto's top recipes: a probe"
STRATEGIES = ("mcc", "cdan", "self_training")
QUICK_PARAMS = {"epochs": 1, "min_steps": 4, "iters_per_epoch": 4}


#: a member ``STRATEGY#K`` is STRATEGY trained with seed ``seed + K * SEED_STRIDE`` on the cut of ``seed`` (a seed
#: ensemble, Lakshminarayanan et al., NeurIPS 2017); ``STRATEGY`` alone is ``STRATEGY#0``, the single strategy's fit
SEED_STRIDE = 1000


def member(name: str) -> tuple[str, int]:
    """(strategy, K) of a member name ``STRATEGY`` or ``STRATEGY#K``."""
    strategy, _, k = name.partition("#")
    return strategy, int(k or 0)


def fit(task: Any, seed: int, name: str, source: Any, quick: bool) -> tuple[Any, float]:
    """(fitted strategy, seconds) of one member (:func:`member`) at its defaults on every label of the cut ``task``
    (cut with ``seed``): ``STRATEGY#0`` is the fit of a recipe with ``shots`` and ``seed``, which cuts the same."""
    from warmstart.recipe import Recipe, run_recipe
    from warmstart.strategies import strategy_class

    strategy, k = member(name)
    known = strategy_class(strategy).param_table()
    params = {key: v for key, v in QUICK_PARAMS.items() if key in known} if quick else {}
    recipe = Recipe(strategy, params, source=str(source.path), source_task=SOURCE_TASK,
                    seed=seed + k * SEED_STRIDE)
    t0 = time.perf_counter()
    res = run_recipe(task, recipe, validation="none", source=source, keep_model=True)
    return res.strategy, time.perf_counter() - t0


def soup(models: list[Any]) -> Any | None:
    """The uniform weight average of models with one architecture (None when their state dicts differ):
    :func:`warmstart.auto.soup.average_weights`."""
    from warmstart.auto.soup import average_weights

    return average_weights(models)


def probe_cell(task_name: str, shots: int, seed: int, strategies: tuple[str, ...], quick: bool,
               work: Path = WORK) -> dict[str, Any]:
    """Every fit's, pair's, triple's and soup's test accuracy on one cut."""
    from warmstart.engine.evaluate import predict_proba
    from warmstart.tasks import get_task

    source = probe_source(work, seed, quick)
    task = get_task(task_name).few_shot(shots, seed=seed)  # the cut each fit makes; its test split is read here
    probs, models, seconds = {}, {}, {}
    for s in strategies:
        strat, sec = fit(task, seed, s, source, quick)
        probs[s] = strat.predict_proba(task.x_test)
        models[s], seconds[s] = strat.model_, sec
    y = task.y_test
    acc = {s: float((p.argmax(1) == y).float().mean()) for s, p in probs.items()}
    for k in range(2, len(strategies) + 1):
        for combo in itertools.combinations(strategies, k):
            p = sum(probs[s] for s in combo) / k
            acc["+".join(combo)] = float((p.argmax(1) == y).float().mean())
            m = soup([models[s] for s in combo])
            if m is not None:
                acc["soup(" + "+".join(combo) + ")"] = float(
                    (predict_proba(m, task.x_test).argmax(1) == y).float().mean())
    return cut_row(task_name, shots, seed, accuracy=acc, seconds=seconds)


def summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per fit and combination: mean test accuracy over the cuts, and its mean gain over the best single fit of
    each cut (the per-cut oracle among the members) and over the best single strategy over all cuts."""
    singles = sorted({s for r in rows for s in r["seconds"]})
    fixed = max(singles, key=lambda s: statistics.fmean(r["accuracy"][s] for r in rows))
    out = []
    for k in sorted({k for r in rows for k in r["accuracy"]}):
        have = [r for r in rows if k in r["accuracy"]]
        out.append({"fit or combination": k, "cuts": len(have),
                    "mean accuracy": statistics.fmean(r["accuracy"][k] for r in have),
                    "− best single of the cut": statistics.fmean(
                        r["accuracy"][k] - max(r["accuracy"][s] for s in singles) for r in have),
                    f"− {fixed}": statistics.fmean(r["accuracy"][k] - r["accuracy"][fixed] for r in have)})
    return out


def _per_cut(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"cut": f"{r['task']}@{r['shots']} seed {r['seed']}", **r["accuracy"],
            "seconds": " ".join(f"{s} {v:.0f}" for s, v in r["seconds"].items()), "load": r["load_1m"]}
           for r in rows]


#: (cells.jsonl, command, note) → README.md beside it (:func:`benchmarks._probe.write_probe_report`)
write_report = functools.partial(write_probe_report, title=TITLE, doc=__doc__ or "", summary=summary,
                                 per_cut=_per_cut)


def main(argv: list[str] | None = None) -> int:
    """Run the probe; append one JSON line per cut to ``--out``."""
    p = probe_parser(__doc__, STRATEGIES)
    a = p.parse_args(argv)
    strategies = tuple(a.strategies)

    def line(row: dict[str, Any]) -> str:
        best = max(row["accuracy"][s] for s in strategies)
        return (f"{row['task']}@{row['shots']} seed {row['seed']}: best single {best:.4f}; "
                + ", ".join(f"{k} {v:.4f}" for k, v in row["accuracy"].items()))

    return run_probe(p, a, "ensemble_probe", argv,
                     lambda task, seed, work: probe_cell(task, a.shots, seed, strategies, a.quick, work or WORK),
                     line, write_report)

if __name__ == "__main__":
    sys.exit(main())
