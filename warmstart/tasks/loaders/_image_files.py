"""Image files as tensors: probing, decoding, and a lazily decoding Dataset.

:func:`decode_image` turns one PNG/JPEG (anything Pillow reads) into uint8
C×H×W with a fixed channel count and size; :class:`ImageFileDataset` does that
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

from warmstart.errors import DataError

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"})


def _pil():  # type: ignore[no-untyped-def]
    from PIL import Image

    return Image


def _bad_image(path: Path | str, exc: BaseException) -> DataError:
    return DataError(f"{path}: corrupt or unreadable image ({type(exc).__name__}: {exc})")


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
        raise _bad_image(path, exc) from exc


def decode_image(path: Path | str, channels: int, size: tuple[int, int]) -> np.ndarray:
    """Decode an image to uint8 ``channels``×H×W, converting mode and resizing (bilinear).

    Args:
        path: Image file.
        channels: 1 (grey, Pillow mode ``L``) or 3 (``RGB``; alpha is dropped).
        size: Target (height, width).

    Raises:
        DataError: the file is corrupt or truncated (names it).
    """
    image = _pil()
    try:
        with image.open(path) as im:
            im = im.convert("L" if channels == 1 else "RGB")
            if (im.height, im.width) != tuple(size):
                im = im.resize((size[1], size[0]), image.Resampling.BILINEAR)
            arr = np.array(im, dtype=np.uint8)
    except Exception as exc:
        raise _bad_image(path, exc) from exc
    return arr[None] if arr.ndim == 2 else np.ascontiguousarray(arr.transpose(2, 0, 1))


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
