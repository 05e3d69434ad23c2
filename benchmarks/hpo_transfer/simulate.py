"""Replay warm-started and cold searches on the tabulated blackbox.

For every held-out target task, the knowledge base is every task of the
*other* families (leave-one-family-out: the target's own halves, shifts and
class subsets are removed too). Each method runs as a real Optuna study
(ask/tell) with warmstart's samplers; a configuration is answered by the
table when it holds it, else by a random forest fitted on that task's table
(the surrogate), so a search is not limited to re-picking table rows. The
objective is the validation loss after the last epoch (minimized); simulated
time adds the table's (or the surrogate's) training seconds.

Methods: random, tpe, cmaes (cold) and topk, box, quantile, cmaes-ws (warm),
each over ``--seeds`` seeds. Reported: normalized regret
(y_best_so_far − y*) / (y_worst − y*) with y*, y_worst the best and worst
table values of the target, against trials and simulated time.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, FloatDistribution, IntDistribution

from benchmarks._report import Checks, markdown_table, output_folder, provenance, write_csv
from warmstart._atomic import write_text_atomic
from warmstart.knowledge.similarity import normalized_l1
from warmstart.search._encode import encode
from warmstart.search.warm import SourceTask, make_warm_start
from warmstart.search.warm.cmaes import cold_cmaes
from warmstart.search.warm.quantile import QuantileSampler, fit_copula_model

DATA = Path(__file__).resolve().parent / "data"
COLD = ("random", "tpe", "cmaes")
WARM = ("topk", "box", "quantile", "cmaes-ws")
CHECKPOINTS = (1, 3, 5, 10, 20, 30, 50)


@dataclass
class Table:
    """One task of the blackbox with its surrogate."""

    name: str
    family: str
    configs: list[dict[str, Any]]
    y: np.ndarray  # validation loss (minimized)
    seconds: np.ndarray
    meta: dict[str, float]
    space: dict[str, BaseDistribution]
    model: Any = None
    time_model: Any = None

    def fit(self, seed: int = 0) -> None:
        from sklearn.ensemble import RandomForestRegressor

        x = np.stack([encode(c, self.space) for c in self.configs])
        self.model = RandomForestRegressor(n_estimators=25, min_samples_leaf=2, random_state=seed).fit(x, self.y)
        self.time_model = RandomForestRegressor(n_estimators=10, random_state=seed).fit(x, self.seconds)
        self._index = {_key(c): i for i, c in enumerate(self.configs)}

    def __call__(self, config: dict[str, Any]) -> tuple[float, float]:
        i = self._index.get(_key(config))
        if i is not None:
            return float(self.y[i]), float(self.seconds[i])
        x = encode(config, self.space)[None]
        return float(self.model.predict(x)[0]), float(self.time_model.predict(x)[0])


def _key(c: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(sorted((k, round(v, 12) if isinstance(v, float) else v) for k, v in c.items()))


def load_tables(data: Path = DATA) -> dict[str, Table]:
    """Every shard of the blackbox (failed configurations get the task's worst loss)."""
    out = {}
    for f in sorted(data.glob("*.json.gz")):
        with gzip.open(f, "rt", encoding="utf-8") as fh:
            d = json.load(fh)
        space: dict[str, BaseDistribution] = {}
        for k, (lo, hi, log, is_int) in d["space"].items():
            space[k] = IntDistribution(int(lo), int(hi), log=bool(log)) if is_int else \
                FloatDistribution(float(lo), float(hi), log=bool(log))
        ok = [r for r in d["rows"] if "val_loss" in r and math.isfinite(r["val_loss"][-1])]
        worst = max(r["val_loss"][-1] for r in ok)
        y = np.array([r["val_loss"][-1] if r in ok else worst for r in d["rows"]])
        out[d["task"]] = Table(d["task"], d["family"], [r["params"] for r in d["rows"]], y,
                               np.array([r["seconds"] for r in d["rows"]]), d["meta_features"], space)
    return out


def sources_for(target: Table, tables: dict[str, Table]) -> list[SourceTask]:
    """Leave-one-family-out sources, nearest first (scores = −loss, higher is better)."""
    others = [t for t in tables.values() if t.family != target.family]
    dists = normalized_l1(target.meta, [t.meta for t in others])
    src = [SourceTask(t.name, list(t.configs), list(-t.y), d) for t, d in zip(others, dists, strict=True)]
    return sorted(src, key=lambda s: (s.distance, s.name))


def run_search(method: str, target: Table, sources: list[SourceTask], n_trials: int, seed: int,
               copula: Any = None) -> np.ndarray:
    """(n_trials × 2) array: loss and simulated seconds of each trial.

    ``copula``: the quantile warm start's model, fitted once per target and shared by the seeds
    (the seeds still vary the Thompson draws, the candidates and TPE).
    """
    sampler: optuna.samplers.BaseSampler
    enqueue: list[dict[str, Any]]
    if method == "quantile" and copula is not None:
        sampler = QuantileSampler(sources, target.space, seed=seed, model=copula,
                                  base=optuna.samplers.TPESampler(seed=seed, n_startup_trials=10))
        enqueue = []
    elif method == "random":
        sampler = optuna.samplers.RandomSampler(seed=seed)
        enqueue = []
    elif method == "tpe":
        sampler, enqueue = optuna.samplers.TPESampler(seed=seed), []
    elif method == "cmaes":
        sampler, enqueue = cold_cmaes(seed), []
    else:
        ws = make_warm_start("cmaes" if method == "cmaes-ws" else method, sources, target.space, seed=seed,
                             direction="minimize")
        sampler, enqueue = ws.sampler, ws.enqueue
    study = optuna.create_study(direction="minimize", sampler=sampler)
    for c in enqueue:
        study.enqueue_trial(c)
    out = np.zeros((n_trials, 2))
    for i in range(n_trials):
        trial = study.ask(target.space)
        loss, sec = target(trial.params)
        study.tell(trial, loss)
        out[i] = loss, sec
    return out


def regret_curve(trace: np.ndarray, target: Table) -> np.ndarray:
    """Normalized regret of the best-so-far loss after each trial."""
    best, worst = float(target.y.min()), float(target.y.max())
    return (np.minimum.accumulate(trace[:, 0]) - best) / max(worst - best, 1e-12)


def main(argv: list[str] | None = None) -> int:
    """Run the replay; write README.md, CSVs and a plot."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1 target, 2 seeds, 10 trials (< 20 s)")
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--trials", type=int, default=50)
    ap.add_argument("--targets", default="", help="comma-separated target tasks (default: all)")
    ap.add_argument("--out", type=Path, default=None,
                    help="results folder (default benchmarks/results/hpo_transfer/, with --quick its quick/)")
    ap.add_argument("--save-raw", type=Path, default=None, help="also save raw curves (for --merge)")
    ap.add_argument("--merge", default="", help="comma-separated raw files of partial runs to combine")
    args = ap.parse_args(argv)
    try:
        args.out = output_folder("hpo_transfer", args.quick and not args.merge, args.out)
    except ValueError as exc:
        ap.error(str(exc))
    if args.merge:
        return merge(args)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore")
    import torch

    torch.set_num_threads(1)
    tables = load_tables()
    targets = [t for t in args.targets.split(",") if t] or list(tables)
    seeds, n_trials = args.seeds, args.trials
    if args.quick:
        targets, seeds, n_trials = ["wine-b"], 2, 10
    for name in targets:  # only targets need a surrogate; sources are their tables
        tables[name].fit()
    t0 = time.perf_counter()
    curves: dict[str, list[np.ndarray]] = {m: [] for m in (*COLD, *WARM)}
    times: dict[str, list[np.ndarray]] = {m: [] for m in curves}
    rows = []
    for name in targets:
        target = tables[name]
        src = sources_for(target, tables)
        copula = fit_copula_model(src, target.space, seed=0)
        for method in curves:
            for seed in range(seeds):
                trace = run_search(method, target, src, n_trials, seed, copula)
                reg = regret_curve(trace, target)
                curves[method].append(reg)
                times[method].append(np.cumsum(trace[:, 1]))
                rows.append({"target": name, "method": method, "seed": seed,
                             **{f"regret@{c}": float(reg[c - 1]) for c in CHECKPOINTS if c <= n_trials}})
        print(f"{name}: done ({time.perf_counter() - t0:.0f}s)", flush=True)
    if args.save_raw is not None:
        save_raw(args.save_raw, curves, times, rows, targets, seeds, n_trials, time.perf_counter() - t0)
    summary = summarize(curves, times, n_trials)
    checks = sanity_checks(curves, summary)
    write_outputs(args, summary, rows, curves, times, targets, seeds, n_trials, time.perf_counter() - t0, checks)
    return checks.exit_code()


def save_raw(path: Path, curves: dict[str, list[np.ndarray]], times: dict[str, list[np.ndarray]],
             rows: list[dict[str, Any]], targets: list[str], seeds: int, n_trials: int, seconds: float) -> None:
    """Raw curves of a partial run, for :func:`merge`."""
    blob = {"curves": {m: [c.tolist() for c in v] for m, v in curves.items()},
            "times": {m: [c.tolist() for c in v] for m, v in times.items()}, "rows": rows, "targets": targets,
            "seeds": seeds, "n_trials": n_trials, "seconds": seconds}
    write_text_atomic(path, json.dumps(blob))


def merge(args: Any) -> int:
    """Combine partial runs (``--save-raw``) into one report."""
    curves: dict[str, list[np.ndarray]] = {}
    times: dict[str, list[np.ndarray]] = {}
    rows: list[dict[str, Any]] = []
    targets: list[str] = []
    seconds = 0.0
    for f in args.merge.split(","):
        blob = json.loads(Path(f).read_text())
        for m, v in blob["curves"].items():
            curves.setdefault(m, []).extend(np.asarray(c) for c in v)
            times.setdefault(m, []).extend(np.asarray(c) for c in blob["times"][m])
        rows += blob["rows"]
        targets += blob["targets"]
        seconds += blob["seconds"]
        seeds, n_trials = blob["seeds"], blob["n_trials"]
    summary = summarize(curves, times, n_trials)
    checks = sanity_checks(curves, summary)
    write_outputs(args, summary, rows, curves, times, targets, seeds, n_trials, seconds, checks)
    return checks.exit_code()


def summarize(curves: dict[str, list[np.ndarray]], times: dict[str, list[np.ndarray]],
              n_trials: int) -> list[dict[str, Any]]:
    """Mean regret at checkpoints, trials to reach cold TPE's final regret, and the targets' checks."""
    mean = {m: np.mean(np.stack(c), axis=0) for m, c in curves.items()}
    tpe_final = mean["tpe"][-1]
    out = []
    for m, curve in mean.items():
        reach = np.nonzero(curve <= tpe_final + 1e-12)[0]
        row: dict[str, Any] = {"method": m, "kind": "cold" if m in COLD else "warm"}
        for c in sorted({*CHECKPOINTS, n_trials}):
            if c <= n_trials:
                row[f"regret@{c}"] = float(curve[c - 1])
        row[f"trials to TPE@{n_trials}"] = int(reach[0]) + 1 if len(reach) else None
        row["sim. seconds to TPE"] = (float(np.mean(np.stack(times[m]), axis=0)[reach[0]]) if len(reach) else None)
        out.append(row)
    return out


def sanity_checks(curves: dict[str, list[np.ndarray]], summary: list[dict[str, Any]]) -> Checks:
    """What must hold at any budget: every regret curve non-increasing and within [0, 1]; each warm
    start's mean regret after its first trial no worse than random search's (its first configuration
    comes from the sources, random's from nowhere)."""
    checks = Checks()
    all_curves = [c for cs in curves.values() for c in cs]
    rising = sum(int(np.any(np.diff(c) > 1e-12)) for c in all_curves)
    checks.add("every regret curve is non-increasing", rising == 0, f"{rising} of {len(all_curves)} rise")
    lo = min(float(c.min()) for c in all_curves)
    hi = max(float(c.max()) for c in all_curves)
    checks.add("every regret is within [0, 1]", -1e-12 <= lo and hi <= 1 + 1e-12, f"min {lo:.4g}, max {hi:.4g}")
    by = {r["method"]: r["regret@1"] for r in summary}
    for m in WARM:
        checks.add(f"{m}: mean regret@1 <= random's", by[m] <= by["random"] + 1e-9,
                   f"{by[m]:.4f} vs random {by['random']:.4f}")
    return checks


def write_outputs(args: Any, summary: list[dict[str, Any]], rows: list[dict[str, Any]],
                  curves: dict[str, list[np.ndarray]], times: dict[str, list[np.ndarray]], targets: list[str],
                  seeds: int, n_trials: int, seconds: float, checks: Checks) -> None:
    """README.md with the table and provenance, CSVs, and the plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "summary.csv", summary)
    write_csv(out / "runs.csv", rows)
    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    for m, c in curves.items():
        mc = np.mean(np.stack(c), axis=0)
        style = "-" if m in WARM else "--"
        ax[0].plot(np.arange(1, len(mc) + 1), mc, style, label=m)
        ax[1].plot(np.mean(np.stack(times[m]), axis=0), mc, style, label=m)
    for a, xl in zip(ax, ("trials", "simulated seconds"), strict=True):
        a.set_xlabel(xl)
        a.set_ylabel("normalized regret (mean)")
        a.set_yscale("log")
        a.legend(fontsize=8)
    ax[1].set_xscale("log")
    fig.tight_layout()
    fig.savefig(out / "regret.png", dpi=110)
    plt.close(fig)
    by = {r["method"]: r for r in summary}
    warm_best = min(WARM, key=lambda m: by[m].get("regret@10", math.inf))
    tpe10 = by["tpe"].get("regret@10")
    reach = by[warm_best][f"trials to TPE@{n_trials}"]
    targets_met = []
    if tpe10 is not None:
        targets_met = [f"- best warm start: **{warm_best}**; regret@10 {by[warm_best]['regret@10']:.4f} vs cold TPE "
                  f"{tpe10:.4f} (ratio {by[warm_best]['regret@10'] / max(tpe10, 1e-12):.2f}; target ≤ 0.33)",
                  f"- trials for {warm_best} to reach cold TPE's {n_trials}-trial regret "
                  f"({by['tpe'][f'regret@{n_trials}']:.4f}): {reach} (target ≤ 10)"]
    cmd = "python -m benchmarks.hpo_transfer.simulate" + (" --quick" if args.quick else "")
    text = "\n".join([
        "# HPO transfer: warm-started vs cold search on a tabulated blackbox", "",
        f"Targets ({len(targets)}, leave-one-family-out): {', '.join(targets)}", "",
        f"{seeds} seeds × {n_trials} trials per method and target; objective = validation loss after the last "
        "epoch of the `scratch` strategy (MLP), 4 hyperparameters (lr, weight_decay, batch_size, "
        "label_smoothing); mean normalized regret over targets and seeds.", "",
        markdown_table(summary), "", *targets_met, "", checks.markdown(), "![regret](regret.png)", "",
        "## Provenance",
        provenance(cmd, list(range(seeds)), notes=f"replay took {seconds:.0f} s; blackbox from "
                   "`python -m benchmarks.hpo_transfer.generate --configs 100 --epochs 10` "
                   "(16 tasks x 100 configurations, real training runs, WARMSTART_THREADS=1)"),
    ])
    write_text_atomic(out / "README.md", text + "\n")
    print(markdown_table(summary))
    print("\n".join(targets_met))


if __name__ == "__main__":
    raise SystemExit(main())
