"""Parts of the model-zoo benchmark beside its accuracy grid: speed, and transferability against accuracy.

* :func:`speed_rows` — images/s of the zoo model's forward pass at each size, and the seconds
  of a head-only trial (a ``linear_probe`` fit through :func:`~warmstart.recipe.run_recipe`,
  test evaluation included) that computes the frozen backbone's features against one that
  finds them in the feature cache (the same source, pool and support set; another ``l2``).
* :func:`transferability_rows` — LogME (You et al., ICML 2021) and LEEP (Nguyen et al., ICML
  2020) of each source on each support set (labels of the support set only).
* :func:`kendall_rows` — Kendall's τ between each score and the best measured test accuracy
  of the source's strategies, over the source × target × shots × seed cells, and how often
  the higher-scored of the two sources is the more accurate one within a cell.
"""

from __future__ import annotations

import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import torch


def speed_rows(b: dict[str, Any], lite0: Any, task: Any) -> list[dict[str, Any]]:
    """Forward images/s and head-only trial seconds (recomputed vs cached) at each of ``b["speed_sizes"]``."""
    from warmstart.engine.feature_cache import default_cache
    from warmstart.recipe import Recipe, run_recipe
    from warmstart.source import Source
    from warmstart.strategies._bn import clear_bn_cache
    from warmstart.strategies._transfer import source_model

    rows = []
    for size in b["speed_sizes"]:
        src = Source(zoo=lite0.zoo, weights=lite0.weights, input_size=(size, size))
        model, _ = source_model(task, src, "new", progress=False)
        model.eval()
        x = task.x_train[: b["speed_images"]]
        times = []
        with torch.no_grad():
            model.features(x[:8])  # warm-up
            for _ in range(3):
                t0 = time.perf_counter()
                for i in range(0, len(x), 64):
                    model.features(x[i:i + 64])
                times.append(time.perf_counter() - t0)
        support = task.few_shot(5, seed=0)
        recompute, cached = [], []
        for seed in (0, 1):
            default_cache().clear()  # recomputing means nothing of this source is cached in the process
            clear_bn_cache()
            t0 = time.perf_counter()
            run_recipe(support, Recipe("linear_probe", params={"l2": 0.1}, seed=seed), source=src,
                       validation="none", keep_model=False)
            recompute.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            run_recipe(support, Recipe("linear_probe", params={"l2": 1.0}, seed=seed), source=src,
                       validation="none", keep_model=False)
            cached.append(time.perf_counter() - t0)
        rec, cac = statistics.median(recompute), statistics.median(cached)
        rows.append({"image_size": size, "forward_images_per_s": len(x) / statistics.median(times),
                     "recompute_trial_s": rec, "cached_trial_s": cac, "speedup": rec / cac,
                     "trial_images": sum(len(v) for v in (support.x_train, support.x_unlabeled, support.x_test)
                                         if v is not None)})
    return rows


def transferability_rows(b: dict[str, Any], sources: dict[str, Any],
                         target_task: Callable[[str], Any]) -> list[dict[str, Any]]:
    """LogME and LEEP of every source on every (target, shots, seed) support set."""
    from warmstart.backbones.adapt import adapt_to_task
    from warmstart.transferability import score_source

    rows = []
    for tname in b["targets"]:
        full = target_task(tname)
        for shots in b["shots"]:
            for seed in b["seeds"]:
                task = full.few_shot(shots, seed=seed)
                for name, src in sources.items():
                    ck = src.fresh_checkpoint(progress=False)
                    head = ck.model.head
                    model, _ = adapt_to_task(ck.model, task, ck.classes, "auto")
                    model.head = head if head is not None else model.head  # LEEP reads the source's own head
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        s = score_source(model, ck.classes if head is not None else None, task.x_train,
                                         task.y_train, task.n_classes, name)
                    rows.append({"target": tname, "shots": shots, "seed": seed, "source": name,
                                 "logme": s.logme, "leep": s.leep})
    return rows


def kendall_rows(scores: list[dict[str, Any]], runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Kendall's τ of each score against the best accuracy per cell, and the within-cell agreement."""
    from scipy.stats import kendalltau

    best: dict[tuple[Any, ...], float] = {}
    for r in runs:
        k = (r["source"], r["target"], r["shots"], r["seed"])
        best[k] = max(best.get(k, 0.0), r["accuracy"])
    out = []
    for score in ("logme", "leep"):
        cells = [(s[score], best[(s["source"], s["target"], s["shots"], s["seed"])]) for s in scores
                 if s[score] is not None and (s["source"], s["target"], s["shots"], s["seed"]) in best]
        tau, p = kendalltau([c[0] for c in cells], [c[1] for c in cells]) if len(cells) > 1 else (float("nan"),) * 2
        agree = total = 0
        groups: dict[tuple[Any, ...], list[tuple[float, float]]] = {}
        for s in scores:
            k = (s["source"], s["target"], s["shots"], s["seed"])
            if s[score] is not None and k in best:
                groups.setdefault(k[1:], []).append((s[score], best[k]))
        for pair in groups.values():
            if len(pair) == 2 and pair[0][1] != pair[1][1]:
                total += 1
                agree += (pair[0][0] > pair[1][0]) == (pair[0][1] > pair[1][1])
        out.append({"score": score, "kendall_tau": float(tau), "p_value": float(p), "cells": len(cells),
                    "source_pairs": total, "pairs_ranked_right": agree})
    return out
