"""Tensor image augmentations that run on CPU and GPU, seeded.

One batched affine warp (shift, small rotation, scale) plus intensity changes
and noise; no PIL round-trips. ``light`` suits supervised fine-tuning, ``strong``
suits contrastive pretraining (SimCLR needs strong views, Chen et al. 2020), ``ssl`` is
``strong`` without pixel noise, the self-supervised pretraining default.

:func:`weak_view` and :func:`strong_view` are the two views of consistency training
(FixMatch, Sohn et al., NeurIPS 2020): a shift (and optionally a horizontal flip,
off for digits), and a RandAugment-like pair of random operations followed by cutout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class AugmentSpec:
    """Ranges of the random transformations."""

    max_shift: float = 0.1  # fraction of the image size
    max_rotation: float = 10.0  # degrees
    scale: tuple[float, float] = (0.9, 1.1)
    brightness: float = 0.1
    contrast: float = 0.1
    noise: float = 0.0
    invert_p: float = 0.0
    crop_p: float = 0.0  # probability of a random resized crop (scale drawn in crop_scale)
    crop_scale: tuple[float, float] = (0.5, 1.0)


PRESETS = {
    "light": AugmentSpec(),
    "strong": AugmentSpec(max_shift=0.15, max_rotation=20.0, scale=(0.8, 1.2), brightness=0.4,
                          contrast=0.4, noise=0.1, crop_p=0.8, crop_scale=(0.4, 1.0)),
    # self-supervised views of digits: ``strong`` without the pixel noise (which cost ~2 points
    # of SimCLR linear-probe accuracy on a held-out split of digits train; see pretraining/simclr.py)
    "ssl": AugmentSpec(max_shift=0.15, max_rotation=20.0, scale=(0.8, 1.2), brightness=0.4,
                       contrast=0.4, noise=0.0, crop_p=0.8, crop_scale=(0.4, 1.0)),
}


def augment_images(x: Tensor, spec: AugmentSpec | str, generator: torch.Generator | None = None) -> Tensor:
    """Apply random augmentations to a batch of N×C×H×W images in [0, 1].

    Args:
        x: Image batch.
        spec: An :class:`AugmentSpec` or a preset name (``light``, ``strong``, ``ssl``; ``none`` returns x).
        generator: Random generator on ``x``'s device, for reproducibility.

    Returns:
        A new batch of the same shape, clipped to [0, 1].
    """
    if isinstance(spec, str):
        if spec == "none":
            return x
        spec = PRESETS[spec]
    n, dev = x.shape[0], x.device

    def u(lo: float, hi: float) -> Tensor:
        return lo + (hi - lo) * torch.rand(n, device=dev, generator=generator)

    angle = u(-spec.max_rotation, spec.max_rotation) * math.pi / 180
    scale = u(*spec.scale)
    if spec.crop_p > 0:
        crop = torch.rand(n, device=dev, generator=generator) < spec.crop_p
        zoom = u(*spec.crop_scale).sqrt()  # side fraction kept by the crop
        scale = torch.where(crop, scale * zoom, scale)
    tx, ty = u(-spec.max_shift, spec.max_shift) * 2, u(-spec.max_shift, spec.max_shift) * 2
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    if spec.contrast > 0:
        c = u(1 - spec.contrast, 1 + spec.contrast).view(n, 1, 1, 1)
        mean = out.mean(dim=(1, 2, 3), keepdim=True)
        out = (out - mean) * c + mean
    if spec.brightness > 0:
        out = out + u(-spec.brightness, spec.brightness).view(n, 1, 1, 1)
    if spec.invert_p > 0:
        flip = (torch.rand(n, device=dev, generator=generator) < spec.invert_p).view(n, 1, 1, 1)
        out = torch.where(flip, 1 - out, out)
    if spec.noise > 0:
        out = out + spec.noise * torch.randn(out.shape, device=dev, generator=generator)
    return out.clamp(0.0, 1.0)


def weak_view(x: Tensor, generator: torch.Generator | None = None, *, max_shift: float = 0.125,
              flip: bool = False) -> Tensor:
    """FixMatch's weak augmentation: a random shift of up to ``max_shift`` of the size, an optional flip.

    Shifted-in pixels are zero (black). ``flip`` (a horizontal flip with probability 0.5) is off by
    default: it changes what a digit or a letter means.
    """
    n, dev = x.shape[0], x.device
    shift = (torch.rand(n, 2, device=dev, generator=generator) * 2 - 1) * max_shift * 2
    sx = torch.ones(n, device=dev)
    if flip:
        sx = torch.where(torch.rand(n, device=dev, generator=generator) < 0.5, -sx, sx)
    zero = torch.zeros(n, device=dev)
    theta = torch.stack([torch.stack([sx, zero, shift[:, 0]], 1),
                         torch.stack([zero, torch.ones(n, device=dev), shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


#: the operations :func:`strong_view` draws from (FixMatch's RandAugment list, without Color and Equalize)
STRONG_OPS = ("identity", "autocontrast", "brightness", "contrast", "sharpness", "posterize", "solarize",
              "rotate", "shear_x", "shear_y", "translate_x", "translate_y")


def _blur(x: Tensor) -> Tensor:
    c = x.shape[1]
    k = torch.tensor([[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]], device=x.device, dtype=x.dtype) / 13
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), k.expand(c, 1, 3, 3), groups=c)


def strong_view(x: Tensor, generator: torch.Generator | None = None, *, n_ops: int = 2,
                cutout: float = 0.5) -> Tensor:
    """A RandAugment-like strong view: ``n_ops`` random operations per image, then cutout.

    Each image draws ``n_ops`` operations from :data:`STRONG_OPS` with a random magnitude
    each (RandAugment's random-magnitude variant used by FixMatch); the geometric ones are
    composed into one affine warp. Cutout zeroes a square whose side is up to ``cutout``
    of the image side (FixMatch: half), centred anywhere in the image. No horizontal flip.

    Args:
        x: N×C×H×W images in [0, 1].
        generator: Random generator on ``x``'s device.
        n_ops: Operations per image.
        cutout: Largest cutout side as a fraction of the image side (0: no cutout).

    Returns:
        A new batch of the same shape in [0, 1].
    """
    n, dev = x.shape[0], x.device
    k = len(STRONG_OPS)
    picks = torch.stack([torch.randint(0, k, (n,), device=dev, generator=generator) for _ in range(n_ops)], 1)

    def chosen(name: str) -> Tensor:
        return (picks == STRONG_OPS.index(name)).any(1)

    def mag() -> Tensor:  # magnitude in [0, 1] per image
        return torch.rand(n, device=dev, generator=generator)

    def sign() -> Tensor:
        return torch.where(torch.rand(n, device=dev, generator=generator) < 0.5, -1.0, 1.0)

    # geometric operations: one affine warp
    angle = chosen("rotate") * sign() * mag() * (30 * math.pi / 180)
    shx, shy = chosen("shear_x") * sign() * mag() * 0.3, chosen("shear_y") * sign() * mag() * 0.3
    tx, ty = chosen("translate_x") * sign() * mag() * 0.6, chosen("translate_y") * sign() * mag() * 0.6
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack([torch.stack([cos + shx * sin, -sin + shx * cos, tx], 1),
                         torch.stack([sin + shy * cos, cos - shy * sin, ty], 1)], 1)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    def where(name: str, new: Tensor) -> Tensor:
        return torch.where(chosen(name).view(n, 1, 1, 1), new, out)

    lo = out.amin(dim=(1, 2, 3), keepdim=True)
    hi = out.amax(dim=(1, 2, 3), keepdim=True)
    out = where("autocontrast", (out - lo) / (hi - lo).clamp_min(1e-3))
    out = where("brightness", out * (0.05 + 1.9 * mag()).view(n, 1, 1, 1))
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    out = where("contrast", (out - mean) * (0.05 + 1.9 * mag()).view(n, 1, 1, 1) + mean)
    blur_w = (0.05 + 1.9 * mag()).view(n, 1, 1, 1)  # < 1 blurs, > 1 sharpens (PIL's Sharpness)
    out = where("sharpness", _blur(out) + blur_w * (out - _blur(out)))
    levels = 2.0 ** (4 + torch.floor(mag() * 4.999)).view(n, 1, 1, 1)  # 4..8 bits
    out = where("posterize", torch.floor(out.clamp(0, 1) * (levels - 1) + 0.5) / (levels - 1))
    thresh = mag().view(n, 1, 1, 1)
    out = where("solarize", torch.where(out >= thresh, 1 - out, out))
    out = out.clamp(0.0, 1.0)
    if cutout > 0:
        h, w = x.shape[-2:]
        side = (mag() * cutout * min(h, w)).view(n, 1, 1)
        cy, cx = (mag() * h).view(n, 1, 1), (mag() * w).view(n, 1, 1)
        ys = torch.arange(h, device=dev, dtype=x.dtype).view(1, h, 1)
        xs = torch.arange(w, device=dev, dtype=x.dtype).view(1, 1, w)
        hole = ((ys - cy).abs() <= side / 2) & ((xs - cx).abs() <= side / 2)
        out = out.masked_fill(hole.unsqueeze(1), 0.0)
    return out
