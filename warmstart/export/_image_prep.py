"""Raw uint8 images to what an image model was trained on, in exportable tensor ops.

The same functions run in ``predict`` (PyTorch) and inside the exported ONNX and
TorchScript graphs, so both give the same probabilities on the same pixels. They
mirror how the loaders decode files with Pillow (``warmstart.tasks.loaders``):

* **channels**: an N×H×W×C uint8 batch with C = 1 (grey), 2 (grey + alpha), 3 (RGB)
  or 4 (RGBA). As the loaders decode files (``_decode.to_float`` and ``convert_float``):
  alpha is composited on black (value · alpha), grey becomes RGB by repeating it, RGB
  becomes grey with ITU-R 601-2 luma 0.299 R + 0.587 G + 0.114 B, and the result is
  rounded once to whole grey levels. Models with other channel counts take exactly
  their own count, unconverted.
* **resize**: Pillow's ``BILINEAR`` filter (a triangle filter widened by the scale
  factor when shrinking, i.e. antialiased; plain bilinear when enlarging), as two
  dense weight matrices built from the input's height and width at run time. It
  equals ``F.interpolate(..., antialias=True)`` and Pillow's resize up to Pillow's
  rounding to uint8; an image already at the model's size passes unchanged.

The channel count, height and width are read from the tensor with ops that stay
symbolic when traced, so one exported graph takes every size and channel count.
"""

from __future__ import annotations

import torch
from torch import Tensor

# the loaders' ITU-R 601-2 luma (warmstart.tasks.loaders._decode.LUMA), applied before one rounding
LUMA_WEIGHTS = (0.299, 0.587, 0.114)
CONVERTIBLE_CHANNELS = (1, 3)
ACCEPTED_CHANNELS = (1, 2, 3, 4)


def to_model_channels(x: Tensor, channels: int) -> Tensor:
    """Convert N×H×W×C pixel values (any C in 1-4) to ``channels`` (1 or 3), as Pillow would.

    Args:
        x: Float N×H×W×C tensor holding uint8 values 0-255.
        channels: The model's channel count; other than 1 or 3, ``x`` is returned unchanged.

    Returns:
        Float N×H×W×``channels`` with values 0-255 (grey results are whole numbers).
    """
    if channels not in CONVERTIBLE_CHANNELS:
        return x
    n_chans = torch.ones_like(x[:1, :1, :1, :], dtype=torch.int64).sum()
    # alpha (the last of 2 or 4 channels) is composited on black, as the loaders decode it: value · alpha
    has_alpha = ((n_chans == 2) | (n_chans == 4)).to(x.dtype)
    alpha = x.index_select(3, (n_chans - 1).reshape(1)) / 255.0
    x = x * (has_alpha * alpha + (1.0 - has_alpha))
    # colour inputs (3 or 4 channels) take R, G, B; grey ones (1 or 2) repeat channel 0
    idx = torch.arange(3, dtype=torch.int64, device=x.device) * (n_chans >= 3).to(torch.int64)
    rgb = x.index_select(3, idx)
    if channels == 3:
        return torch.round(rgb)
    r, g, b = rgb[..., 0:1], rgb[..., 1:2], rgb[..., 2:3]
    return torch.round(r * LUMA_WEIGHTS[0] + g * LUMA_WEIGHTS[1] + b * LUMA_WEIGHTS[2])


def _resize_weights(ones: Tensor, out: int) -> Tensor:
    """``out``×n weights of Pillow's bilinear filter for an axis of n = len(``ones``) pixels."""
    n = ones.sum()
    src = ones.cumsum(0) - 0.5  # pixel centres 0.5 ... n - 0.5
    scale = n / out
    support = torch.clamp(scale, min=1.0)
    centre = (torch.arange(out, dtype=ones.dtype, device=ones.device) + 0.5) * scale
    w = torch.relu(1.0 - (src[None, :] - centre[:, None]).abs() / support)
    return w / w.sum(1, keepdim=True)


def resize(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Resize float N×C×H×W to ``size`` (H, W) with Pillow's antialiased bilinear filter."""
    rows = _resize_weights(torch.ones_like(x[0, 0, :, 0]), size[0])
    cols = _resize_weights(torch.ones_like(x[0, 0, 0, :]), size[1])
    return torch.matmul(torch.matmul(rows, x), cols.transpose(0, 1))


def prepare_images(x: Tensor, channels: int, size: tuple[int, int] | None) -> Tensor:
    """Raw uint8 N×H×W×C images to float N×``channels``×H'×W' in [0, 1] at ``size``.

    Args:
        x: uint8 images, NHWC, C in 1-4 (see the module docstring), N ≥ 1.
        channels: The model's channel count.
        size: The model's input (height, width); None keeps each image's size.

    Returns:
        What the model's own ``prepare`` then normalizes.
    """
    x = to_model_channels(x.to(torch.float32), channels)
    x = x.permute(0, 3, 1, 2) / 255.0
    if size is not None:
        x = resize(x, size)
    return x
