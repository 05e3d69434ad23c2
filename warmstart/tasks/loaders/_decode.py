"""Decode one image file of any Pillow mode and bit depth to uint8 C×H×W.

Every mode is first turned into floats in [0, 1] at its own bit depth, then
composited, converted to the wanted channel count, resized and quantized once:

* ``1`` (bilevel): 0 or 1. ``L``, ``P``, ``RGB``, ``RGBX`` and other 8-bit
  modes: value / 255. ``P`` (palette) is looked up in its palette first
  (``RGBA`` when it has a transparent entry, else ``RGB``); ``CMYK``, ``YCbCr``,
  ``LAB`` and ``HSV`` go through Pillow's own conversion to ``RGB``.
* ``I;16``, ``I;16L``, ``I;16B``, ``I;16N`` (16-bit integers): value / 65535.
* ``I`` (32-bit signed integers): value / (2**bits − 1), where ``bits`` is the
  bit depth the file declares (TIFF ``BitsPerSample``; a PNG holds at most 16
  bits); a file that declares none is taken as 16-bit when every value fits in
  16 bits, else as 31-bit (int32). Negative values clip to 0.
* ``F`` (32-bit float): taken as intensities in [0, 1]; a file holding NaN,
  infinity or values outside [0, 1] is refused (DataError), never clipped
  silently.
* Alpha (``LA``, ``RGBA``, ``PA``, a transparent palette entry) is composited
  on a **black** background: ``value · alpha``, the convention of MNIST-like
  data (a transparent pixel is "no ink"). Premultiplied modes (``La``,
  ``RGBa``) already are.
* Colour to grey uses Pillow's ``L`` weights (ITU-R 601-2 luma:
  0.299 R + 0.587 G + 0.114 B); grey to colour repeats the channel.
* Resizing is bilinear (Pillow), on the float values, before quantizing to
  uint8 with rounding (so a 16-bit image keeps its precision up to that one
  rounding).

Multi-frame files (GIF, TIFF) give their first frame.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from warmstart.errors import DataError

LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float64)
_VIA_RGB = frozenset({"CMYK", "YCbCr", "LAB", "HSV"})
_INT16 = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})


def _pil():  # type: ignore[no-untyped-def]
    from PIL import Image

    return Image


def _int_bits(im: Any, arr: np.ndarray) -> int:
    """Bit depth of a mode-``I`` image: what the file declares, else inferred from the values."""
    declared = None
    tags = getattr(im, "tag_v2", None)
    if tags is not None:
        bps = tags.get(258)  # BitsPerSample
        declared = int(bps[0] if isinstance(bps, (tuple, list)) else bps) if bps else None
    elif getattr(im, "format", None) == "PNG":
        declared = 16
    if declared:
        return min(int(declared), 31)
    return 16 if arr.size == 0 or int(arr.max()) <= 0xFFFF else 31


def to_float(im: Any, path: Path | str = "") -> np.ndarray:
    """A Pillow image as float64 H×W×C in [0, 1] (C = 1 or 3), alpha composited on black.

    Args:
        im: An open Pillow image of any mode.
        path: The file, for error messages.

    Raises:
        DataError: a float (``F``) image with values outside [0, 1] or not finite.
    """
    mode = im.mode
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif mode == "PA":
        im = im.convert("RGBA")
    elif mode in _VIA_RGB:
        im = im.convert("RGB")
    mode = im.mode
    if mode == "1":
        return np.asarray(im, dtype=bool).astype(np.float64)[..., None]
    if mode in _INT16:
        return np.asarray(im).astype(np.float64)[..., None] / 65535.0
    if mode == "I":
        ints = np.asarray(im).astype(np.int64)
        return np.clip(ints, 0, None).astype(np.float64)[..., None] / float(2 ** _int_bits(im, ints) - 1)
    if mode == "F":
        floats = np.asarray(im).astype(np.float64)
        if floats.size and not (np.isfinite(floats).all() and floats.min() >= 0.0 and floats.max() <= 1.0):
            finite = floats[np.isfinite(floats)]
            rng = f"[{finite.min():.4g}, {finite.max():.4g}]" if finite.size else "no finite values"
            raise DataError(f"{path}: float image values must lie in [0, 1] (found {rng}"
                            f"{'' if np.isfinite(floats).all() else ', NaN or inf'})")
        return floats[..., None]
    if mode not in ("L", "LA", "La", "RGB", "RGBA", "RGBa", "RGBX"):
        im = im.convert("RGBA")  # any other mode Pillow knows
        mode = "RGBA"
    arr = np.asarray(im).astype(np.float64) / 255.0
    if arr.ndim == 2:
        arr = arr[..., None]
    if mode in ("LA", "RGBA"):
        return arr[..., :-1] * arr[..., -1:]
    if mode in ("La", "RGBa", "RGBX"):
        return arr[..., :-1]
    return arr


def _resize(arr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    image = _pil()
    h, w = size
    planes = [np.asarray(image.fromarray(arr[..., c].astype(np.float32), mode="F")
                         .resize((w, h), image.Resampling.BILINEAR)) for c in range(arr.shape[2])]
    return np.stack(planes, axis=2).astype(np.float64)


def convert_float(arr: np.ndarray, channels: int, size: tuple[int, int]) -> np.ndarray:
    """H×W×C floats in [0, 1] → uint8 ``channels``×H×W at ``size`` (luma or repeat, bilinear, round)."""
    if channels == 1 and arr.shape[2] == 3:
        arr = (arr @ LUMA)[..., None]
    elif channels == 3 and arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    if arr.shape[:2] != tuple(size):
        arr = _resize(arr, size)
    out = np.clip(np.rint(arr * 255.0), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(out.transpose(2, 0, 1))


def decode_file(path: Path | str, channels: int, size: tuple[int, int]) -> np.ndarray:
    """Decode ``path`` to uint8 ``channels``×H×W (see the module docstring for every mode).

    Raises:
        DataError: the file is corrupt, truncated or not an image, or a float
            image is out of range (names the file).
    """
    image = _pil()
    try:
        with image.open(path) as im:
            im.load()
            arr = to_float(im, path)
    except DataError:
        raise
    except Exception as exc:  # UnidentifiedImageError, OSError, DecompressionBombError ...
        raise bad_image(path, exc) from exc
    return convert_float(arr, channels, size)


def bad_image(path: Path | str, exc: BaseException) -> DataError:
    """The DataError of an unreadable image: ``<path>: corrupt or unreadable image (<why>)``."""
    why = str(exc).replace(str(path), "").strip(" :'\"") or type(exc).__name__
    return DataError(f"{path}: corrupt or unreadable image ({type(exc).__name__}: {why[:80]})")
