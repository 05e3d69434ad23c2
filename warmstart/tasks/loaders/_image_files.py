"""Image files as tensors: probing, decoding, and a lazily decoding Dataset.

:func:`decode_image` turns one PNG/JPEG (anything Pillow reads) into uint8
C×H×W with a fixed channel count and size, every mode and bit depth rescaled
(see :mod:`warmstart.tasks.loaders._decode`); :class:`ImageFileDataset` does that
on access for image folders too large for memory, yielding float tensors in
[0, 1] and the label, as the engine's DataLoader expects.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from warmstart.tasks.loaders._decode import bad_image, decode_file

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"})


def _pil():  # type: ignore[no-untyped-def]
    from PIL import Image

    return Image


def probe_image(path: Path) -> tuple[int, int, bool]:
    """Read only the header of an image: (height, width, is_grey).

    Raises:
        DataError: Pillow cannot identify the file (names it).
    """
    image = _pil()
    try:
        with image.open(path) as im:
            w, h = im.size
            return h, w, im.mode in GREY_MODES
    except Exception as exc:  # UnidentifiedImageError, OSError, DecompressionBombError ...
        raise bad_image(path, exc) from exc


def decode_image(path: Path | str, channels: int, size: tuple[int, int]) -> np.ndarray:
    """Decode an image to uint8 ``channels``×H×W, rescaling its mode and bit depth, resizing bilinearly.

    Every Pillow mode is scaled by its own bit depth (16-bit by 65535, palettes
    looked up, CMYK converted, alpha composited on black); see
    :mod:`warmstart.tasks.loaders._decode` for each mode.

    Args:
        path: Image file.
        channels: 1 (grey, ITU-R 601-2 luma) or 3 (RGB).
        size: Target (height, width).

    Raises:
        DataError: the file is corrupt, truncated or not an image, or a float
            image holds values outside [0, 1] (names the file).
    """
    return decode_file(path, channels, size)


class ImageFileDataset(Dataset[tuple[Tensor, int]]):
    """Images decoded from disk on access: item ``i`` is (float32 C×H×W in [0, 1], label).

    The dataset stores only file names and labels, so it is cheap to pickle into
    DataLoader workers; every access decodes the file (uint8) and scales it.

    Args:
        files: Image paths.
        labels: One int per file (``-1`` for the unlabelled pool), or None for all ``-1``.
        channels: 1 or 3.
        size: (height, width) every image is resized to.
    """

    def __init__(
        self, files: Sequence[Path | str], labels: Sequence[int] | None, channels: int,
        size: tuple[int, int],
    ) -> None:
        self.files = [str(f) for f in files]
        self.labels = [-1] * len(self.files) if labels is None else [int(v) for v in labels]
        if len(self.labels) != len(self.files):
            raise ValueError("files and labels differ in length")
        self.channels = int(channels)
        self.size = (int(size[0]), int(size[1]))

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """Shape (C, H, W) of every item."""
        return (self.channels, *self.size)

    def __len__(self) -> int:
        return len(self.files)

    def decode_uint8(self, index: int) -> Tensor:
        """Item ``index`` as a uint8 C×H×W tensor (no scaling)."""
        return torch.from_numpy(decode_image(self.files[index], self.channels, self.size))

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        x = self.decode_uint8(index).to(torch.float32).div_(255.0)
        return x, self.labels[index]

    def __repr__(self) -> str:
        return f"ImageFileDataset({len(self)} files, shape={self.input_shape})"
