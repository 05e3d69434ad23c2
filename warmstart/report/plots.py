"""Matplotlib figures for the report, returned as base64 PNG data URIs (no files, no network)."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def _encode(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def best_so_far(trials: Sequence[dict[str, Any]], key: str = "value") -> str:
    """Best-so-far objective against trial number and against elapsed seconds."""
    done = [t for t in trials if t.get(key) is not None]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    best, xs, ts, ys = float("-inf"), [], [], []
    for i, t in enumerate(done):
        best = max(best, float(t[key]))
        xs.append(i + 1)
        ts.append(float(t.get("elapsed", i + 1)))
        ys.append(best)
    axes[0].step(xs, ys, where="post")
    axes[0].set(xlabel="trials", ylabel="best validation score")
    axes[1].step(ts, ys, where="post", color="tab:orange")
    axes[1].set(xlabel="seconds", ylabel="best validation score")
    for ax in axes:
        ax.grid(alpha=0.3)
    return _encode(fig)


def learning_curves(history: Sequence[dict[str, Any]]) -> str:
    """Training loss and validation metrics per epoch."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ep = [h["epoch"] for h in history]
    ax.plot(ep, [float(h.get("train_loss", float("nan"))) for h in history], label="train loss")
    ax.set(xlabel="epoch", ylabel="loss")
    val_keys = sorted({k for h in history for k in h if k.startswith("val_")})
    if val_keys:
        ax2 = ax.twinx()
        for k in val_keys:
            pts = [(h["epoch"], h[k]) for h in history if k in h]
            ax2.plot([p[0] for p in pts], [p[1] for p in pts], "--", label=k)
        ax2.legend(loc="center right", fontsize=8)
    ax.legend(loc="upper right", fontsize=8)
    return _encode(fig)


def confusion(matrix: Sequence[Sequence[int]], classes: Sequence[str]) -> str:
    """Confusion matrix heat map (rows: true class, columns: predicted)."""
    n = len(classes)
    fig, ax = plt.subplots(figsize=(0.45 * n + 2, 0.45 * n + 1.5))
    ax.imshow(matrix, cmap="Blues")
    ax.set(xticks=range(n), yticks=range(n), xticklabels=classes, yticklabels=classes,
           xlabel="predicted", ylabel="true")
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(matrix[i][j]), ha="center", va="center", fontsize=7)
    return _encode(fig)


def pareto(points: Sequence[dict[str, Any]], x: str, y: str) -> str:
    """Scatter of all candidates with the Pareto-optimal ones highlighted."""
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.scatter([p[x] for p in points], [p[y] for p in points], c="lightgray", label="candidates")
    front = [p for p in points if p.get("pareto")]
    front.sort(key=lambda p: p[x])
    ax.plot([p[x] for p in front], [p[y] for p in front], "o-", color="tab:red", label="Pareto front")
    ax.set(xlabel=x, ylabel=y)
    ax.legend(fontsize=8)
    return _encode(fig)


def bars(labels: Sequence[str], values: Sequence[float], xlabel: str) -> str:
    """Horizontal bar chart."""
    fig, ax = plt.subplots(figsize=(6, 0.35 * len(labels) + 1))
    ax.barh(list(labels), list(values))
    ax.set(xlabel=xlabel)
    ax.invert_yaxis()
    return _encode(fig)
