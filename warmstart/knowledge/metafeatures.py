"""Task meta-features: what the knowledge base knows about a task before training on it.

Simple and statistical meta-features in the spirit of auto-sklearn's
meta-learning (Feurer, Springenberg, Hutter, "Initializing Bayesian
Hyperparameter Optimization via Meta-Learning", AAAI 2015): size, number of
classes, class balance, input statistics, plus a *probe embedding*: the mean
and spread of a fixed reference network's features on the task's inputs.

The reference network is a random network whose weights are drawn from
NumPy's PCG64 generator with a fixed seed (:data:`PROBE_SEED`), so it is the
same on every machine and in every version (NumPy guarantees the PCG64
stream); changing it requires bumping :data:`META_VERSION`. Images go through
a random 5×5 convolution bank (grayscale, resized to 28×28) with ReLU and
global average pooling; tabular inputs through a random ReLU layer whose
weights depend only on the seed and the input width.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from warmstart.tasks._task import Task, n_items, take

META_VERSION = 1
PROBE_SEED = 20150125
PROBE_DIM = 8
_MAX_EXAMPLES = 512


def _probe_images(x: torch.Tensor) -> torch.Tensor:
    rng = np.random.default_rng(PROBE_SEED)
    w = torch.from_numpy(rng.standard_normal((PROBE_DIM, 1, 5, 5)).astype(np.float32)) / 5.0
    b = torch.from_numpy(rng.standard_normal(PROBE_DIM).astype(np.float32)) * 0.1
    g = x.float().mean(dim=1, keepdim=True)
    if g.shape[-2:] != (28, 28):
        g = F.interpolate(g, size=(28, 28), mode="bilinear", align_corners=False)
    h = F.relu(F.conv2d(g, w, b, stride=2))
    return h.mean(dim=(2, 3))


def _probe_tabular(x: torch.Tensor) -> torch.Tensor:
    d = int(x.shape[1])
    rng = np.random.default_rng([PROBE_SEED, d])
    w = torch.from_numpy(rng.standard_normal((d, PROBE_DIM)).astype(np.float32)) / math.sqrt(max(d, 1))
    b = torch.from_numpy(rng.standard_normal(PROBE_DIM).astype(np.float32)) * 0.1
    return F.relu(x.float() @ w + b)


def probe_embedding(task: Task) -> tuple[list[float], list[float]]:
    """Mean and standard deviation of the fixed reference network's features on ``task``'s inputs.

    Uses up to 512 training inputs taken at evenly spaced indices (deterministic).
    Text tasks have no probe (empty lists).
    """
    x = task.x_train
    n = n_items(x)
    if task.modality == "text" or n == 0 or not isinstance(x, torch.Tensor):
        return [], []
    idx = torch.linspace(0, n - 1, steps=min(n, _MAX_EXAMPLES)).round().long()
    xs = take(x, idx)
    with torch.no_grad():
        feats = _probe_images(xs) if task.modality == "image" else _probe_tabular(xs.reshape(len(xs), -1))
    return feats.mean(0).tolist(), feats.std(0, unbiased=False).tolist()


def meta_features(task: Task, *, probe: bool = True) -> dict[str, float]:
    """A flat dict of numeric meta-features for ``task`` (labelled training split only).

    Keys: ``log_n_train``, ``log_n_classes``, ``class_entropy`` (normalized, 1 = balanced),
    ``min_max_class_ratio``, ``log_input_dim``, ``is_image``, ``input_mean``, ``input_std``,
    and with ``probe`` ``probe_mean_i`` / ``probe_std_i`` for i < :data:`PROBE_DIM`.
    Test labels are never read.
    """
    y = task.y_train
    k = max(task.n_classes, 1)
    counts = torch.bincount(y, minlength=k).double()
    p = counts / counts.sum().clamp_min(1)
    ent = float(-(p[p > 0] * p[p > 0].log()).sum() / math.log(k)) if k > 1 else 1.0
    dim = int(np.prod(task.input_shape)) if task.input_shape else 1
    out: dict[str, float] = {
        "log_n_train": math.log(max(1, n_items(task.x_train))),
        "log_n_classes": math.log(k),
        "class_entropy": ent,
        "min_max_class_ratio": float(counts.min() / counts.max().clamp_min(1)),
        "log_input_dim": math.log(max(1, dim)),
        "is_image": 1.0 if task.modality == "image" else 0.0,
    }
    x = task.x_train
    if isinstance(x, torch.Tensor) and n_items(x) > 0:
        xf = x.float()
        out["input_mean"] = float(xf.mean())
        out["input_std"] = float(xf.std(unbiased=False))
    if probe:
        mean, spread = probe_embedding(task)
        for i, (m, s) in enumerate(zip(mean, spread, strict=True)):
            out[f"probe_mean_{i}"] = float(m)
            out[f"probe_std_{i}"] = float(s)
    return out


def task_description(task: Task) -> dict[str, Any]:
    """Human-readable facts stored beside the meta-features (name, modality, sizes, classes)."""
    s = task.summary()
    return {k: s[k] for k in ("name", "modality", "input_shape", "n_train", "n_val", "n_test", "shots")} | {
        "n_classes": task.n_classes}
