"""Generate the HPO-transfer blackbox from real training runs (resumable).

For every task of :mod:`benchmarks.hpo_transfer._tasks` and each of N
configurations of the ``scratch`` strategy's hyperparameters (learning rate,
weight decay, batch size, label smoothing; sampled at random over the
continuous space with a fixed seed, the same configurations for every task),
one real training run of the strategy (``Strategy.fit``, the call :func:`warmstart.recipe.run_recipe` makes)
that records the validation loss and accuracy after every epoch and
the seconds each epoch took. Each task is written to its own gzip shard
(``data/<task>.json.gz``) atomically every few configurations, so a killed run
picks up where it stopped.

Usage: python -m benchmarks.hpo_transfer.generate [--configs 100] [--epochs 10] [--tasks a,b]
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.hpo_transfer._tasks import TASKS, build_task, family_of
from warmstart._atomic import write_bytes_atomic
from warmstart.knowledge.metafeatures import meta_features
from warmstart.strategies import get_strategy

DATA = Path(__file__).resolve().parent / "data"
STRATEGY = "scratch"
# name -> (low, high, log, int)
SPACE: dict[str, tuple[float, float, bool, bool]] = {
    "lr": (1e-4, 3e-2, True, False),
    "weight_decay": (1e-6, 1e-2, True, False),
    "batch_size": (16, 256, True, True),
    "label_smoothing": (0.0, 0.2, False, False),
}


def sample_configs(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` configurations drawn uniformly (log-uniformly for log parameters) over :data:`SPACE`."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        cfg: dict[str, Any] = {}
        for k, (lo, hi, log, is_int) in SPACE.items():
            u = rng.random()
            v = math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo))) if log else lo + u * (hi - lo)
            cfg[k] = round(v) if is_int else float(v)
        out.append(cfg)
    return out


def load_shard(path: Path) -> dict[str, Any] | None:
    """A task's shard, or None when absent."""
    if not path.exists():
        return None
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return json.load(fh)


def _save(path: Path, shard: dict[str, Any]) -> None:
    write_bytes_atomic(path, gzip.compress(json.dumps(shard).encode(), mtime=0))


def run_config(task: Any, cfg: dict[str, Any], epochs: int) -> dict[str, Any]:
    """Train once; per-epoch validation curves and times."""
    strat = get_strategy(STRATEGY, epochs=epochs, min_steps=0, seed=0, device="cpu", progress=False, **cfg)
    t0 = time.perf_counter()
    try:
        strat.fit(task)
    except Exception as exc:
        return {"params": cfg, "failed": str(exc).splitlines()[0], "seconds": time.perf_counter() - t0}
    ep = strat.history_.epochs
    return {"params": cfg, "val_loss": [e["val_loss"] for e in ep], "val_accuracy": [e["val_accuracy"] for e in ep],
            "epoch_seconds": [e["seconds"] for e in ep], "seconds": time.perf_counter() - t0}


def generate(out: Path, tasks: list[str], n_configs: int, epochs: int, save_every: int = 10) -> None:
    """Fill ``out/<task>.json.gz`` up to ``n_configs`` rows each (resuming existing shards)."""
    configs = sample_configs(n_configs)
    for name in tasks:
        path = out / f"{name}.json.gz"
        shard = load_shard(path)
        if shard is not None and shard.get("epochs") != epochs:
            raise SystemExit(f"{path} was made with {shard.get('epochs')} epochs, not {epochs}; delete it first")
        task = build_task(name)
        if shard is None:
            shard = {"task": name, "family": family_of(name), "strategy": STRATEGY, "epochs": epochs,
                     "space": {k: list(v) for k, v in SPACE.items()}, "meta_features": meta_features(task),
                     "rows": []}
        start = len(shard["rows"])
        t0 = time.perf_counter()
        for i in range(start, n_configs):
            shard["rows"].append(run_config(task, configs[i], epochs))
            if (i + 1) % save_every == 0 or i + 1 == n_configs:
                _save(path, shard)
        print(f"{name}: {len(shard['rows'])} configs ({n_configs - start} new, "
              f"{time.perf_counter() - t0:.0f}s)", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", type=int, default=100)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--tasks", default=",".join(TASKS))
    ap.add_argument("--out", type=Path, default=DATA)
    args = ap.parse_args(argv)
    os.environ.setdefault("WARMSTART_THREADS", "1")
    os.environ.setdefault("WARMSTART_NO_PROGRESS", "1")
    generate(args.out, [t for t in args.tasks.split(",") if t], args.configs, args.epochs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
