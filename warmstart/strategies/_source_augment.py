"""Source augmentations that cover the target's shift, chosen without a target label.

Domain adaptation aligns what the source model's features already can represent; a
shift that the features do not span (an inverted image: statistics cannot flip a sign)
stays out of reach of every alignment loss. Training on source images augmented so that
they *look like the target* closes that part of the gap directly. Which augmentations do
that is decided on the unlabelled pool alone, by a domain divergence: a linear domain
classifier is trained on the source model's features of augmented source images against
target-pool images and scored on held-out ones. Its error ε gives the **proxy
A-distance** PAD = 2(1 − 2ε) (Ben-David et al., "Analysis of representations for domain
adaptation", NeurIPS 2007), which sits at 2 once the domains are linearly separable; its
log-loss gives the **log-loss divergence** (:func:`log_loss_divergence`, the default),
which keeps ranking augmentations there. A greedy forward selection (Kohavi & John,
"Wrappers for feature subset selection", 1997) adds, round by round, the operation of
:data:`OPS` that lowers the divergence most, while the drop is at least ``min_gain``.

Every operation is a *random* version of a common image augmentation (torchvision has
each: RandomInvert, GaussianBlur, RandomAffine, ColorJitter, morphological filters),
applied to each image with probability one half, so the augmented source keeps clean
images too. Images are N×C×H×W in [0, 1].
"""

from __future__ import annotations

import copy
import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from warmstart.engine.embed import embed
from warmstart.tasks import _shifts as shifts

Op = Callable[[Tensor, torch.Generator | None], Tensor]
APPLY_P = 0.5  # each operation acts on an image with this probability


def _u(n: int, lo: float, hi: float, x: Tensor, gen: torch.Generator | None) -> Tensor:
    return lo + (hi - lo) * torch.rand(n, device=x.device, generator=gen)


def _per_image(x: Tensor, new: Tensor, gen: torch.Generator | None) -> Tensor:
    hit = (torch.rand(len(x), device=x.device, generator=gen) < APPLY_P).view(-1, 1, 1, 1)
    return torch.where(hit, new, x)


def _blur(x: Tensor, sigma: Tensor) -> Tensor:
    """Per-image Gaussian blur (separable, radius 3·max sigma, zero padding)."""
    r = max(1, math.ceil(3 * float(sigma.max())))
    t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-(t.view(1, -1) ** 2) / (2 * sigma.view(-1, 1) ** 2))
    k = k / k.sum(1, keepdim=True)  # N × (2r+1)
    n, c, h, w = x.shape
    flat = x.reshape(1, n * c, h, w)
    kk = k.repeat_interleave(c, 0)
    out = F.conv2d(flat, kk.view(n * c, 1, 1, -1), padding=(0, r), groups=n * c)
    out = F.conv2d(out, kk.view(n * c, 1, -1, 1), padding=(r, 0), groups=n * c)
    return out.view(n, c, h, w)


def _affine(x: Tensor, angle: Tensor, zoom: Tensor) -> Tensor:
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    zero = torch.zeros_like(cos)
    theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def invert(x: Tensor, gen: torch.Generator | None = None) -> Tensor:
    """Swap foreground and background (``1 − x``)."""
    return _per_image(x, shifts.invert(x), gen)


def blur(x: Tensor, gen: torch.Generator | None = None) -> Tensor:
    """Gaussian blur, sigma uniform in [0.5, 2] pixels."""
    return _per_image(x, _blur(x, _u(len(x), 0.5, 2.0, x, gen)), gen)


def thicken(x: Tensor, gen: torch.Generator | None = None) -> Tensor:
    """Grey dilation by a 3×3 square (strokes one pixel thicker on each side)."""
    return _per_image(x, shifts.dilate(x), gen)


def thin(x: Tensor, gen: torch.Generator | None = None) -> Tensor:
    """Grey erosion by a 2×2 square (strokes about one pixel thinner)."""
    return _per_image(x, shifts.erode(x), gen)


def shrink(x: Tensor, gen: torch.Generator | None = None) -> Tensor:
    """Scale about the centre by a factor uniform in [0.5, 1] (zero fill)."""
    return _per_image(x, _affine(x, torch.zeros(len(x), device=x.device), _u(len(x), 0.5, 1.0, x, gen)), gen)


def rotate(x: Tensor, gen: torch.Generator | None = None) -> Tensor:
    """Rotate about the centre by an angle uniform in [−60°, 60°] (zero fill)."""
    angle = _u(len(x), -math.pi / 3, math.pi / 3, x, gen)
    return _per_image(x, _affine(x, angle, torch.ones(len(x), device=x.device)), gen)


def low_contrast(x: Tensor, gen: torch.Generator | None = None) -> Tensor:
    """Contrast around mid-grey cut to a factor uniform in [0.2, 1]."""
    c = _u(len(x), 0.2, 1.0, x, gen).view(-1, 1, 1, 1)
    return _per_image(x, c * x + (1 - c) / 2, gen)


def noise(x: Tensor, gen: torch.Generator | None = None) -> Tensor:
    """Gaussian pixel noise, standard deviation uniform in [0, 0.3], clipped to [0, 1]."""
    std = _u(len(x), 0.0, 0.3, x, gen).view(-1, 1, 1, 1)
    z = torch.randn(x.shape, device=x.device, generator=gen)
    return _per_image(x, (x + std * z).clamp(0.0, 1.0), gen)


#: the menu of the greedy selection, in the order a chosen set is applied
OPS: dict[str, Op] = {"invert": invert, "blur": blur, "thicken": thicken, "thin": thin, "shrink": shrink,
                      "rotate": rotate, "low_contrast": low_contrast, "noise": noise}


def apply_ops(x: Tensor, names: list[str], gen: torch.Generator | None = None) -> Tensor:
    """``x`` through the named operations in :data:`OPS` order (each on half of the images)."""
    for name in names:
        x = OPS[name](x, gen)
    return x


def _domain_split(f_s: np.ndarray, f_t: np.ndarray, seed: int) -> tuple[Any, np.ndarray, np.ndarray]:
    """A logistic-regression domain classifier fit on a random half of equal-sized source / target
    features; returns it with the other half's standardized features and domain labels."""
    from sklearn.linear_model import LogisticRegression

    n = min(len(f_s), len(f_t))
    rng = np.random.default_rng(seed)
    x = np.concatenate([f_s[rng.permutation(len(f_s))[:n]], f_t[rng.permutation(len(f_t))[:n]]])
    y = np.concatenate([np.zeros(n), np.ones(n)])
    order = rng.permutation(2 * n)
    x, y = x[order], y[order]  # the first n fit the classifier, the other n measure it
    mu, sd = x[:n].mean(0), x[:n].std(0) + 1e-6
    clf = LogisticRegression(C=1.0, max_iter=500, random_state=seed)
    clf.fit((x[:n] - mu) / sd, y[:n])
    return clf, (x[n:] - mu) / sd, y[n:]


def proxy_a_distance(f_s: np.ndarray, f_t: np.ndarray, seed: int = 0) -> float:
    """PAD = 2(1 − 2ε): ε the error of a logistic-regression domain classifier on a held-out half.

    Both sets are cut to the same size, so chance is ε = 0.5 (PAD 0); PAD 2 means fully separable.
    A 0/1 error: once the domains are separable it stays at 2 however far apart they are
    (see :func:`log_loss_divergence`).
    """
    clf, x, y = _domain_split(f_s, f_t, seed)
    err = float((clf.predict(x) != y).mean())
    return 2.0 * (1.0 - 2.0 * min(err, 0.5))


def log_loss_divergence(f_s: np.ndarray, f_t: np.ndarray, seed: int = 0) -> float:
    """2(1 − CE / ln 2), clipped to [0, 2]: CE the held-out cross-entropy of the same domain classifier.

    On the PAD's scale (0: one distribution, 2: apart), but a cross-entropy keeps falling as the
    domains move apart after they are separable, where the PAD's error sits at 0: it still ranks
    augmentations when the source features separate the two domains perfectly. (ln 2 − CE lower-
    bounds the Jensen–Shannon divergence; Nguyen, Wainwright & Jordan, IEEE Trans. IT 2010.)
    """
    from sklearn.metrics import log_loss

    clf, x, y = _domain_split(f_s, f_t, seed)
    ce = float(log_loss(y, clf.predict_proba(x)[:, 1], labels=[0.0, 1.0]))
    return float(min(2.0, max(0.0, 2.0 * (1.0 - ce / math.log(2.0)))))


#: the domain divergences :func:`choose_ops` can lower, and what a report calls them
DIVERGENCES: dict[str, tuple[Callable[[np.ndarray, np.ndarray, int], float], str]] = {
    "pad": (proxy_a_distance, "proxy A-distance"), "logloss": (log_loss_divergence, "log-loss divergence")}


@dataclass
class AugmentChoice:
    """The outcome of :func:`choose_ops`: the chosen operations and the divergence of every set tried
    (``pad_none``, ``pad`` and ``tried`` hold the ``measure`` named, the PAD by default)."""

    ops: list[str]
    pad_none: float
    pad: float
    tried: list[dict[str, Any]] = field(default_factory=list)
    skipped: str = ""  # why no search ran (e.g. non-finite features), else empty
    measure: str = "proxy A-distance"  # the divergence that pad_none / pad / tried hold

    def describe(self) -> str:
        """One line: what was chosen and the divergence it reached (or why nothing was searched)."""
        if self.skipped:
            return f"none ({self.skipped})"
        chosen = "+".join(self.ops) or "none"
        return f"{chosen} ({self.measure} {self.pad_none:.2f} -> {self.pad:.2f} on the target pool)"


_CACHE: dict[str, AugmentChoice] = {}
_CACHE_SIZE = 16


def _fingerprint(model: nn.Module, x_source: Tensor, x_pool: Tensor, **settings: Any) -> str:
    from warmstart.engine.feature_cache import data_fingerprint

    h = hashlib.sha256(repr(sorted(settings.items())).encode())
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(data_fingerprint(t.reshape(-1)).encode())
    h.update(data_fingerprint(x_source).encode())
    h.update(data_fingerprint(x_pool).encode())
    return h.hexdigest()


def choose_ops(model: nn.Module, x_source: Tensor, x_pool: Tensor, *, samples: int = 600, max_ops: int = 3,
               min_gain: float = 0.05, seed: int = 0, device: torch.device | str = "cpu",
               divergence: str = "logloss") -> AugmentChoice:
    """Greedy forward selection of :data:`OPS` that lowers a domain divergence to the pool.

    The outcome is a deterministic function of its arguments and is remembered for the process
    (the last few distinct calls), so the trials of one search pay for it once.

    Args:
        model: The source model (its pooled features, by :func:`~warmstart.engine.embed.embed`, give the
            representation).
        x_source: Source images (N×C×H×W in [0, 1]), in the target's input format.
        x_pool: The target's unlabelled pool (images of the same format; no labels).
        samples: Examples of each domain (fixed random subsets).
        max_ops: At most this many operations.
        min_gain: An operation is added only when it lowers the divergence by at least this much.
        seed: Seed of the subsets, the augmentations and the domain classifier.
        device: Device of the model.
        divergence: What the selection lowers, a name in :data:`DIVERGENCES`: ``pad`` (the proxy
            A-distance, the default) or ``logloss`` (:func:`log_loss_divergence`, which does not
            saturate on separable domains). Both on the same 0–2 scale, so ``min_gain`` means the same.

    Returns:
        An :class:`AugmentChoice` (no operation when none lowers the divergence enough).

    Raises:
        ValueError: an unknown ``divergence``.
    """
    if divergence not in DIVERGENCES:
        raise ValueError(f"divergence {divergence!r}: choose one of {', '.join(DIVERGENCES)}")
    key = _fingerprint(model, x_source, x_pool, samples=samples, max_ops=max_ops, min_gain=min_gain, seed=seed,
                       divergence=divergence)
    if key not in _CACHE:
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = _choose(model, x_source, x_pool, samples=samples, max_ops=max_ops, min_gain=min_gain,
                              seed=seed, device=device, divergence=divergence)
    return copy.deepcopy(_CACHE[key])


def _choose(model: nn.Module, x_source: Tensor, x_pool: Tensor, *, samples: int, max_ops: int, min_gain: float,
            seed: int, device: torch.device | str, divergence: str) -> AugmentChoice:
    measure, called = DIVERGENCES[divergence]
    dev = torch.device(device)
    gen = torch.Generator().manual_seed(seed)
    xs = x_source[torch.randperm(len(x_source), generator=gen)[:samples]]
    xt = x_pool[torch.randperm(len(x_pool), generator=gen)[:samples]]
    f_t = embed(model, xt, device=dev).numpy()
    if not np.isfinite(f_t).all():  # the training that follows reports the divergence
        return AugmentChoice([], float("nan"), float("nan"), skipped="non-finite features of the pool")

    def pad_of(names: list[str]) -> float:
        aug = apply_ops(xs, names, torch.Generator().manual_seed(seed + 1))
        return measure(embed(model, aug, device=dev).numpy(), f_t, seed)

    chosen: list[str] = []
    best = pad_none = pad_of([])
    tried: list[dict[str, Any]] = [{"ops": "none", "pad": pad_none}]
    while len(chosen) < max_ops:
        scores = {name: pad_of([*chosen, name]) for name in OPS if name not in chosen}
        tried += [{"ops": "+".join([*chosen, k]), "pad": v} for k, v in scores.items()]
        name = min(scores, key=lambda k: scores[k])
        if best - scores[name] < min_gain:
            break
        chosen.append(name)
        best = scores[name]
    return AugmentChoice([n for n in OPS if n in chosen], pad_none, best, tried, measure=called)
