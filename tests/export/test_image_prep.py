"""The exportable image preparation matches Pillow (what the loaders decode with) and torch's resize."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from warmstart.export._image_prep import prepare_images, resize, to_model_channels

RNG = np.random.default_rng(0)
PIXELS = RNG.integers(0, 256, (23, 17, 4), dtype=np.uint8)
MODES = {"L": PIXELS[..., 0], "LA": PIXELS[..., :2], "RGB": PIXELS[..., :3], "RGBA": PIXELS}


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("target", ["L", "RGB"])
def test_channel_conversion_equals_the_loaders_decode(mode: str, target: str) -> None:
    """The graph converts channels exactly as the loaders decode a file (what the model trained on)."""
    from warmstart.tasks.loaders._decode import convert_float, to_float

    arr = MODES[mode]
    channels = 1 if target == "L" else 3
    expected = convert_float(to_float(Image.fromarray(arr, mode)), channels, arr.shape[:2]).transpose(1, 2, 0)
    raw = torch.from_numpy(arr.reshape(23, 17, -1))[None].float()
    got = to_model_channels(raw, channels)[0].numpy()
    np.testing.assert_array_equal(got, expected.astype(np.float32))


def test_palette_image_converts_like_the_loaders() -> None:
    from warmstart.tasks.loaders._decode import convert_float, to_float

    pal = Image.fromarray(PIXELS[..., :3], "RGB").quantize(32)
    raw = torch.from_numpy(np.array(pal.convert("RGB")))[None].float()
    expected = convert_float(to_float(pal), 1, (23, 17))[0]
    np.testing.assert_array_equal(to_model_channels(raw, 1)[0, ..., 0].numpy(), expected.astype(np.float32))


@pytest.mark.parametrize(("h", "w", "out"), [(50, 40, (28, 28)), (10, 13, (28, 28)), (300, 17, (28, 32)),
                                             (29, 27, (28, 28))])
def test_resize_is_torch_antialiased_bilinear_and_pillow_within_rounding(h: int, w: int,
                                                                        out: tuple[int, int]) -> None:
    x = torch.rand(2, 3, h, w, generator=torch.Generator().manual_seed(h))
    ref = F.interpolate(x, size=out, mode="bilinear", align_corners=False, antialias=True)
    assert (resize(x, out) - ref).abs().max() < 1e-5
    u8 = (x[0, 0] * 255).round().to(torch.uint8).numpy()
    pil = np.array(Image.fromarray(u8).resize((out[1], out[0]), Image.Resampling.BILINEAR), dtype=np.float32)
    assert np.abs(resize(torch.from_numpy(u8).float()[None, None], out)[0, 0].numpy() - pil).max() <= 1.0


def test_prepare_keeps_an_image_of_the_model_size_unchanged() -> None:
    raw = torch.from_numpy(PIXELS[:, :, :3].copy())[None]
    got = prepare_images(raw, 3, (23, 17))
    assert torch.equal(got, raw.permute(0, 3, 1, 2).float() / 255.0)
