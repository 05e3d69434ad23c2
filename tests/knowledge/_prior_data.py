"""Realistic synthetic trial rows for the prior's tests: image tasks favour l2sp, tabular ones scratch."""

from __future__ import annotations

import json
import random

#: true mean validation accuracy of each strategy by task family; image sources help, tabular ones do not
TRUTH = {"image": {"l2sp": 0.90, "finetune": 0.87, "linear_probe": 0.80, "scratch": 0.55},
         "tabular": {"l2sp": 0.72, "finetune": 0.74, "linear_probe": 0.70, "scratch": 0.86}}
SECONDS = {"l2sp": 30.0, "finetune": 25.0, "linear_probe": 2.0, "scratch": 10.0}
LRS = (1e-3, 1e-2)


def meta(kind: str, rng: random.Random) -> dict[str, float]:
    """Meta-features as :func:`warmstart.knowledge.meta_features` names them (a few of them)."""
    return {"is_image": 1.0 if kind == "image" else 0.0, "log_n_classes": rng.uniform(0.7, 2.3),
            "log_input_dim": 6.7 if kind == "image" else rng.uniform(1.5, 3.5)}


def synthetic_rows(n_per_family: int = 5, seed: int = 0, seeds: int = 2,
                   families: tuple[str, ...] = ("image", "tabular")) -> list[dict]:
    """Rows in the trial_rows format: every (strategy, lr) on every task, ``seeds`` seeds each, with curves."""
    rng = random.Random(seed)
    rows = []
    for kind in families:
        for t in range(n_per_family):
            level = rng.uniform(-0.1, 0.05)  # tasks differ in difficulty
            mf = {f"mf_{k}": v for k, v in meta(kind, rng).items()}
            logme = rng.uniform(-1, 1)
            for strat, acc in TRUTH[kind].items():
                for lr in LRS:
                    for s in range(seeds):
                        final = acc + level + rng.gauss(0, 0.01)
                        curve = [final * (1 - 0.5 ** (e + 1)) + rng.gauss(0, 0.005) for e in range(5)]
                        rows.append({"study": f"{kind}{t}@5shots|auto", "kind": "auto", "task": f"{kind}{t}@5shots",
                                     "state": "COMPLETE", "shots": 5, "strategy": strat, "seed": s,
                                     "source": f"/cache/src-{kind}", "params": json.dumps({"lr": lr}),
                                     "architecture": None, "score": final, "metric": "val_accuracy",
                                     "validation": "kfold", "seconds": SECONDS[strat] * rng.uniform(0.8, 1.2),
                                     "n_epochs": 5, "curve": json.dumps(curve), "p_lr": lr, "tf_logme": logme,
                                     "test_accuracy": final + rng.gauss(0, 0.02), **mf})
    return rows


def situation(kind: str, seed: int = 99) -> dict[str, float]:
    return {**meta(kind, random.Random(seed)), "shots": 5}
