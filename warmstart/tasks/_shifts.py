"""Domain shifts applied to image tasks (``BASE[-a|-b]-SHIFT`` built-in names).

Each shift is a deterministic function of the images (the random ones use a fixed
seed), applied to every split and to the unlabelled pool alike. Every shift maps
N×C×H×W images in [0, 1] to images of the same shape in [0, 1]:

* ``inverted``: foreground and background swapped, ``1 - x``.
* ``rotated``: rotated by 45 degrees about the centre (bilinear, zero fill).
* ``noisy``: seeded Gaussian noise (std 0.3), clipped to [0, 1].
* ``blurred``: Gaussian blur, sigma 1.5 px (separable, zero padding): a defocused camera.
* ``thick``: strokes thickened by grey dilation, a 3×3 max-pool (one pixel on each side).
* ``thin``: strokes thinned by grey erosion, a 2×2 min-pool (about one pixel of stroke
  width; a 3×3 erosion erases many thin MNIST strokes entirely).
* ``scaled``: shrunk to 60 % of its size about the image centre (bilinear, zero fill).
* ``elastic``: the elastic distortion of Simard, Steinkraus & Platt, "Best Practices for
  Convolutional Neural Networks Applied to Visual Document Analysis", ICDAR 2003: a
  per-image random displacement field, uniform in [-1, 1] per pixel, smoothed by a
  Gaussian of sigma 4 px and scaled by alpha 34 px (their MNIST setting), applied with
  bilinear sampling; seeded.
* ``lowcontrast``: contrast cut to 30 % around mid-grey, ``0.3 x + 0.35`` (values in [0.35, 0.65]).
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
BLUR_SIGMA = 1.5
SCALE = 0.6
ELASTIC_ALPHA = 34.0
ELASTIC_SIGMA = 4.0
ELASTIC_SEED = 11
CONTRAST = 0.3


def invert(x: Tensor) -> Tensor:
    """Swap foreground and background: ``1 - x``."""
    return 1.0 - x


def _affine(x: Tensor, mat: list[list[float]]) -> Tensor:
    """Resample every image through the 2×3 affine map ``mat`` of output to input coordinates."""
    theta = torch.tensor(mat, dtype=x.dtype).expand(len(x), 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def rotate(x: Tensor, degrees: float = ROTATION_DEGREES) -> Tensor:
    """Rotate every image by a fixed angle about its centre (bilinear, zero fill)."""
    theta = math.radians(degrees)
    c, s = math.cos(theta), math.sin(theta)
    return _affine(x, [[c, -s, 0.0], [s, c, 0.0]])


def add_noise(x: Tensor, std: float = NOISE_STD, seed: int = NOISE_SEED) -> Tensor:
    """Add seeded Gaussian noise and clip to [0, 1]."""
    gen = torch.Generator().manual_seed(seed + len(x))
    return (x + std * torch.randn(x.shape, generator=gen)).clamp(0.0, 1.0)


def gaussian_blur(x: Tensor, sigma: float = BLUR_SIGMA) -> Tensor:
    """Blur every channel with a Gaussian of ``sigma`` pixels (separable, radius 3 sigma, zero padding).

    The kernel sums to 1 and is non-negative, so values stay in the input's range.
    """
    r = max(1, math.ceil(3 * sigma))
    t = torch.arange(-r, r + 1, dtype=x.dtype)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    c = x.shape[1]
    out = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), padding=(0, r), groups=c)
    return F.conv2d(out, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), padding=(r, 0), groups=c)


def dilate(x: Tensor) -> Tensor:
    """Grey dilation by a 3×3 square: every pixel becomes the maximum of its neighbourhood."""
    return F.max_pool2d(x, kernel_size=3, stride=1, padding=1)


def erode(x: Tensor) -> Tensor:
    """Grey erosion by a 2×2 square: every pixel becomes the minimum of itself and its right,
    lower and lower-right neighbours (the border outside the image counts as background 0)."""
    return -F.max_pool2d(F.pad(-x, (0, 1, 0, 1), value=0.0), kernel_size=2, stride=1)


def scale(x: Tensor, factor: float = SCALE) -> Tensor:
    """Shrink every image to ``factor`` of its size about its centre (bilinear, zero fill)."""
    return _affine(x, [[1.0 / factor, 0.0, 0.0], [0.0, 1.0 / factor, 0.0]])


def elastic(x: Tensor, alpha: float = ELASTIC_ALPHA, sigma: float = ELASTIC_SIGMA,
            seed: int = ELASTIC_SEED) -> Tensor:
    """Simard et al. (2003) elastic distortion: one smoothed random displacement field per image.

    The fields are drawn from a generator seeded with ``seed`` and the number of images,
    so the same images give the same output. ``alpha`` is the displacement scale in pixels,
    ``sigma`` the smoothing in pixels; the result is clipped to [0, 1] (bilinear sampling
    stays within the input's range already).
    """
    n, _, h, w = x.shape
    gen = torch.Generator().manual_seed(seed + n)
    field = torch.rand((n, 2, h, w), generator=gen, dtype=x.dtype) * 2 - 1
    field = gaussian_blur(field, sigma) * alpha  # pixels: channel 0 along x, channel 1 along y
    ys, xs = torch.meshgrid(torch.arange(h, dtype=x.dtype), torch.arange(w, dtype=x.dtype), indexing="ij")
    # pixel centres in grid_sample's normalized coordinates (align_corners=False)
    gx = (2 * (xs + field[:, 0]) + 1) / w - 1
    gy = (2 * (ys + field[:, 1]) + 1) / h - 1
    grid = torch.stack([gx, gy], dim=-1)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.clamp(0.0, 1.0)


def low_contrast(x: Tensor, contrast: float = CONTRAST) -> Tensor:
    """Cut the contrast around mid-grey: ``contrast * x + (1 - contrast) / 2``."""
    return contrast * x + (1.0 - contrast) / 2


SHIFTS: dict[str, Callable[[Tensor], Tensor]] = {
    "inverted": invert,
    "rotated": rotate,
    "noisy": add_noise,
    "blurred": gaussian_blur,
    "thick": dilate,
    "thin": erode,
    "scaled": scale,
    "elastic": elastic,
    "lowcontrast": low_contrast,
}
