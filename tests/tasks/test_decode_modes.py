"""Every Pillow mode and bit depth decodes to the value a numpy reference decode gives.

Each test writes a file from a known array, decodes it with
:func:`warmstart.tasks.loaders.decode_image` and compares with the expected
intensities computed here with numpy (scale by the bit depth, palette lookup,
CMYK formula, alpha on black), within one uint8 step.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from warmstart.errors import DataError
from warmstart.tasks import load_task
from warmstart.tasks.loaders import decode_image

RNG = np.random.default_rng(0)
H, W = 6, 7
LUMA = np.array([0.299, 0.587, 0.114])
STEP = 1 / 255 + 1e-9  # one uint8 step: the decoder quantizes once


def _decoded(path: Path, channels: int, size: tuple[int, int] = (H, W)) -> np.ndarray:
    """Decoded floats H×W×C in [0, 1]."""
    out = decode_image(path, channels, size)
    assert out.dtype == np.uint8 and out.shape == (channels, *size)
    return out.transpose(1, 2, 0).astype(np.float64) / 255


def _close(got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= STEP


def test_16bit_png_scaled_by_65535(tmp_path: Path) -> None:
    a = RNG.integers(0, 65536, (H, W), dtype=np.uint16)
    a[0, 0], a[0, 1] = 0, 65535
    Image.fromarray(a).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode == "I;16"
    got = _decoded(tmp_path / "g16.png", 1)
    _close(got, a[..., None] / 65535)
    assert (got < 1).mean() > 0.9  # not clipped to white
    _close(_decoded(tmp_path / "g16.png", 3), np.repeat(a[..., None] / 65535, 3, axis=2))


def test_16bit_big_endian_tiff(tmp_path: Path) -> None:
    a = RNG.integers(0, 65536, (H, W), dtype=np.uint16)
    Image.frombytes("I;16B", (W, H), a.astype(">u2").tobytes()).save(tmp_path / "b.tif")
    assert Image.open(tmp_path / "b.tif").mode == "I;16B"
    _close(_decoded(tmp_path / "b.tif", 1), a[..., None] / 65535)


def test_32bit_int_scaled_by_declared_depth(tmp_path: Path) -> None:
    a = RNG.integers(0, 2**31 - 1, (H, W), dtype=np.int32)
    Image.fromarray(a).save(tmp_path / "i.tif")
    assert Image.open(tmp_path / "i.tif").mode == "I"
    _close(_decoded(tmp_path / "i.tif", 1), a[..., None] / (2**31 - 1))


def test_float_in_unit_range_and_out_of_range_refused(tmp_path: Path) -> None:
    f = RNG.random((H, W)).astype(np.float32)
    Image.fromarray(f).save(tmp_path / "f.tif")
    _close(_decoded(tmp_path / "f.tif", 1), f[..., None].astype(np.float64))
    Image.fromarray(f * 255).save(tmp_path / "f255.tif")
    with pytest.raises(DataError, match=r"f255\.tif: float image values must lie in \[0, 1\]"):
        decode_image(tmp_path / "f255.tif", 1, (H, W))


def test_bilevel(tmp_path: Path) -> None:
    b = RNG.random((H, W)) > 0.5
    Image.fromarray(b).save(tmp_path / "b.png")
    assert Image.open(tmp_path / "b.png").mode == "1"
    _close(_decoded(tmp_path / "b.png", 1), b[..., None].astype(np.float64))


def test_grey_alpha_composited_on_black(tmp_path: Path) -> None:
    la = RNG.integers(0, 256, (H, W, 2), dtype=np.uint8)
    Image.fromarray(la, mode="LA").save(tmp_path / "la.png")
    want = la[..., :1] / 255 * (la[..., 1:] / 255)
    _close(_decoded(tmp_path / "la.png", 1), want)


def test_rgba_composited_on_black_and_grey_by_luma(tmp_path: Path) -> None:
    rgba = RNG.integers(0, 256, (H, W, 4), dtype=np.uint8)
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "c.png")
    want = rgba[..., :3] / 255 * (rgba[..., 3:] / 255)
    _close(_decoded(tmp_path / "c.png", 3), want)
    _close(_decoded(tmp_path / "c.png", 1), (want @ LUMA)[..., None])


def test_palette_lookup(tmp_path: Path) -> None:
    pal = RNG.integers(0, 256, (256, 3), dtype=np.uint8)
    idx = RNG.integers(0, 256, (H, W), dtype=np.uint8)
    im = Image.fromarray(idx, mode="P")
    im.putpalette(pal.flatten().tolist())
    im.save(tmp_path / "p.png")
    want = pal[idx] / 255
    _close(_decoded(tmp_path / "p.png", 3), want)
    _close(_decoded(tmp_path / "p.png", 1), (want @ LUMA)[..., None])
    im.save(tmp_path / "p.gif")
    _close(_decoded(tmp_path / "p.gif", 3), want)


def test_palette_transparency_composited_on_black(tmp_path: Path) -> None:
    pal = RNG.integers(1, 256, (256, 3), dtype=np.uint8)
    idx = RNG.integers(0, 4, (H, W), dtype=np.uint8)
    im = Image.fromarray(idx, mode="P")
    im.putpalette(pal.flatten().tolist())
    im.save(tmp_path / "pt.png", transparency=2)
    assert "transparency" in Image.open(tmp_path / "pt.png").info
    want = pal[idx] / 255 * (idx != 2)[..., None]
    _close(_decoded(tmp_path / "pt.png", 3), want)


def test_cmyk_pillow_formula(tmp_path: Path) -> None:
    cmyk = RNG.integers(0, 256, (H, W, 4), dtype=np.uint8)
    Image.frombytes("CMYK", (W, H), cmyk.tobytes()).save(tmp_path / "c.tif")
    c, k = cmyk[..., :3] / 255, cmyk[..., 3:] / 255
    _close(_decoded(tmp_path / "c.tif", 3), (1 - c) * (1 - k))


def test_16bit_resize_keeps_the_scale(tmp_path: Path) -> None:
    a = np.full((8, 8), 30000, dtype=np.uint16)
    Image.fromarray(a).save(tmp_path / "g16.png")
    got = decode_image(tmp_path / "g16.png", 1, (4, 5))
    assert got.shape == (1, 4, 5)
    assert (got == round(30000 / 65535 * 255)).all()


def test_16bit_folder_loads_unclipped(tmp_path: Path) -> None:
    a = RNG.integers(0, 65536, (4, 8, 8), dtype=np.uint16)
    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        for i in range(4):
            Image.fromarray(a[i]).save(tmp_path / c / f"{i}.png")
    task = load_task(tmp_path)
    x = task.x_train
    assert float(x.max()) <= 1.0 and float((x == 1.0).float().mean()) < 0.05
    assert abs(float(x.mean()) - 0.5) < 0.1  # uniform over the 16-bit range, not clipped
