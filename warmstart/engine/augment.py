"""Tensor image augmentations that run on CPU and GPU, seeded.

One batched affine warp (shift, small rotation, scale) plus intensity changes
and noise; no PIL round-trips. ``light`` suits supervised fine-tuning, ``strong``
suits contrastive pretraining (SimCLR needs strong views, Chen et al. 2020).
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
}


def augment_images(x: Tensor, spec: AugmentSpec | str, generator: torch.Generator | None = None) -> Tensor:
    """Apply random augmentations to a batch of N×C×H×W images in [0, 1].

    Args:
        x: Image batch.
        spec: An :class:`AugmentSpec` or a preset name (``light``, ``strong``; ``none`` returns x).
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
