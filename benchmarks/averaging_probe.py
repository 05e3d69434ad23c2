"""Would a fit's running weight average beat its last weights? A probe.

``auto``'s final fit returns the weights of its last step. Averaging the weights a fit passes
through on its way (Polyak & Juditsky, "Acceleration of stochastic approximation by averaging",
SIAM J. Control Optim. 1992; an exponential moving average as Mean Teacher and USB keep it,
Tarvainen & Valpola, NeurIPS 2017; the uniform average of the last part of the run, SWA, Izmailov
et al., UAI 2018) costs no extra step, and flatter minima transfer better under shift (SWAD, Cha et
al., NeurIPS 2021). This probe measures what it adds in one fit, on tasks that are *not* the auto
benchmark's situations (the meta-dataset's other shifts of ``mnist5k-b``), so no design choice is
made on those situations' test labels.

Per (task, shots, seed) and strategy at its defaults, fit on every label of the few-shot cut from
the ``mnist5k-a`` source (``run_recipe``, ``validation="none"``, as auto's final fit), the test
accuracy of its last weights and of each running average of the same fit, all its weights and
buffers averaged (batch-norm statistics included): ``ema0.99`` and ``ema0.998`` (decays),
``swa25`` (uniform over the last quarter of the steps).

Usage:
    python -m benchmarks.averaging_probe --tasks mnist5k-b-elastic mnist5k-b-blurred --shots 5 --seeds 0 1
    python -m benchmarks.averaging_probe --quick      # tiny training → benchmarks/results/averaging_probe/quick/
    python -m benchmarks.averaging_probe --report-only  # rewrite README.md from cells.jsonl
"""

from __future__ import annotations

import functools
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from benchmarks._probe import SOURCE_TASK, WORK, cut_row, probe_parser, probe_source, run_probe, write_probe_report
from warmstart.engine.callbacks import Callback

TITLE = "A fit's running weight average against its last weights: a probe"
STRATEGIES = ("mcc",)
QUICK_PARAMS = {"epochs": 1, "min_steps": 10, "iterations": 10}
DECAYS = {"ema0.99": 0.99, "ema0.998": 0.998}
SWA_SHARE = 0.25


class Averages(Callback):
    """Keep running averages of the trained module's state (floating tensors; the others follow the module)."""

    def __init__(self) -> None:
        self.model: nn.Module | None = None
        self.total = 0
        self.avg: dict[str, dict[str, torch.Tensor]] = {}
        self.swa_n = 0

    def on_train_begin(self, model: nn.Module, total_epochs: int) -> None:
        self.model = model
        state = model.state_dict()
        self.avg = {k: {n: t.detach().clone() for n, t in state.items()} for k in DECAYS}

    def horizon(self, step: int, total: int) -> int | None:
        self.total = total
        return None

    @torch.no_grad()
    def on_batch_end(self, step: int, model: nn.Module) -> None:
        state = model.state_dict()
        for k, d in DECAYS.items():
            for n, t in state.items():
                a = self.avg[k][n]
                if t.is_floating_point():
                    a.mul_(d).add_(t.detach(), alpha=1 - d)
                else:
                    a.copy_(t)
        if self.total and step > (1 - SWA_SHARE) * self.total:
            if "swa25" not in self.avg:
                self.avg["swa25"] = {n: t.detach().clone() for n, t in state.items()}
                self.swa_n = 1
            else:
                self.swa_n += 1
                for n, t in state.items():
                    a = self.avg["swa25"][n]
                    if t.is_floating_point():
                        a.add_((t.detach() - a) / self.swa_n)
                    else:
                        a.copy_(t)


def fit(task: Any, shots: int, seed: int, strategy: str, source: Any, quick: bool) -> dict[str, Any]:
    """Test accuracy of one fit's last weights and of each average."""
    from warmstart.engine.callbacks import extra_callbacks
    from warmstart.recipe import Recipe, run_recipe
    from warmstart.strategies import strategy_class
    from warmstart.tasks import load_task

    known = strategy_class(strategy).param_table()
    params = {k: v for k, v in QUICK_PARAMS.items() if k in known} if quick else {}
    recipe = Recipe(strategy, params, source=str(source.path), source_task=SOURCE_TASK, shots=shots, seed=seed)
    target = load_task(task).few_shot(shots, seed=seed)
    cb = Averages()
    t0 = time.perf_counter()
    with extra_callbacks(cb):
        res = run_recipe(target, recipe, validation="none", source=source, keep_model=True)
    out = {"last": float(res.test["accuracy"])}
    assert cb.model is not None
    for k, state in cb.avg.items():
        cb.model.load_state_dict(state)
        out[k] = float(res.strategy.evaluate(target, "test")["accuracy"])
    return {"accuracy": out, "seconds": time.perf_counter() - t0, "steps": cb.total}


def probe_cell(task_name: str, shots: int, seed: int, strategies: tuple[str, ...], quick: bool,
               work: Path = WORK) -> dict[str, Any]:
    """Every strategy's fit on one cut."""

    source = probe_source(work, seed, quick)
    runs = {s: fit(task_name, shots, seed, s, source, quick) for s in strategies}
    return cut_row(task_name, shots, seed, runs=runs)


def summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per strategy and average: mean test accuracy over the cuts and the mean paired difference to the last."""
    out = []
    for s in sorted({k for r in rows for k in r["runs"]}):
        have = [r["runs"][s]["accuracy"] for r in rows if s in r["runs"]]
        for k in ("last", *DECAYS, "swa25"):
            diffs = [a[k] - a["last"] for a in have if k in a]
            out.append({"strategy": s, "weights": k, "cuts": len(diffs),
                        "mean accuracy": statistics.fmean(a[k] for a in have if k in a),
                        "− last": statistics.fmean(diffs),
                        "higher / equal / lower": (f"{sum(d > 0 for d in diffs)} / {sum(d == 0 for d in diffs)} / "
                                                   f"{sum(d < 0 for d in diffs)}")})
    return out


def _per_cut(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"cut": f"{r['task']}@{r['shots']} seed {r['seed']}", "strategy": s,
            **{k: f"{v:.4f}" for k, v in run["accuracy"].items()}, "steps": run["steps"],
            "seconds": round(run["seconds"]), "load": r["load_1m"]}
           for r in rows for s, run in r["runs"].items()]


#: (cells.jsonl, command, note) → README.md beside it (:func:`benchmarks._probe.write_probe_report`)
write_report = functools.partial(write_probe_report, title=TITLE, doc=__doc__ or "", summary=summary,
                                 per_cut=_per_cut)


def main(argv: list[str] | None = None) -> int:
    """Run the probe; append one JSON line per cut to ``--out``."""
    p = probe_parser(__doc__, STRATEGIES)
    a = p.parse_args(argv)

    def line(row: dict[str, Any]) -> str:
        return f"{row['task']}@{row['shots']} seed {row['seed']}: " + ", ".join(
            f"{s} " + " ".join(f"{k} {v:.4f}" for k, v in run["accuracy"].items()) for s, run in row["runs"].items())

    return run_probe(p, a, "averaging_probe", argv,
                     lambda task, seed, work: probe_cell(task, a.shots, seed, tuple(a.strategies), a.quick,
                                                         work or WORK),
                     line, write_report)


if __name__ == "__main__":
    sys.exit(main())
