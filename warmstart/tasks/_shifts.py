"""Domain shifts applied to image tasks: inverted, rotated, noisy.

Each shift is a deterministic function of the images (noise uses a fixed seed),
applied to every split and to the unlabelled pool alike.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

ROTATION_DEGREES = 45.0
NOISE_STD = 0.3
NOISE_SEED = 7


def invert(x: Tensor) -> Tensor:
    """Swap foreground and background: ``1 - x``."""
    return 1.0 - x


def rotate(x: Tensor, degrees: float = ROTATION_DEGREES) -> Tensor:
    """Rotate every image by a fixed angle about its centre (bilinear, zero fill)."""
    theta = math.radians(degrees)
    c, s = math.cos(theta), math.sin(theta)
    mat = torch.tensor([[c, -s, 0.0], [s, c, 0.0]], dtype=x.dtype).expand(len(x), 2, 3)
    grid = F.affine_grid(mat, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def add_noise(x: Tensor, std: float = NOISE_STD, seed: int = NOISE_SEED) -> Tensor:
    """Add seeded Gaussian noise and clip to [0, 1]."""
    gen = torch.Generator().manual_seed(seed + len(x))
    return (x + std * torch.randn(x.shape, generator=gen)).clamp(0.0, 1.0)


SHIFTS: dict[str, Callable[[Tensor], Tensor]] = {
    "inverted": invert,
    "rotated": rotate,
    "noisy": add_noise,
}
