"""Tensor augmentations: shape, range, seeded reproducibility, real change."""

from __future__ import annotations

import pytest
import torch

from warmstart.engine import AugmentSpec, augment_images


def images(n: int = 8, c: int = 1, size: int = 16) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    x = torch.zeros(n, c, size, size)
    x[:, :, 4:12, 6:10] = torch.rand(n, c, 8, 4, generator=g) * 0.5 + 0.5
    return x


@pytest.mark.parametrize("preset", ["light", "strong"])
def test_shape_range_and_change(preset: str) -> None:
    x = images(c=3)
    before = x.clone()
    out = augment_images(x, preset, torch.Generator().manual_seed(1))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    assert torch.equal(x, before)  # input untouched
    assert not torch.allclose(out, x, atol=1e-3)
    # each image changes
    assert bool(((out - x).abs().flatten(1).amax(1) > 1e-3).all())


def test_same_seed_same_output_other_seed_differs() -> None:
    x = images()
    a = augment_images(x, "light", torch.Generator().manual_seed(5))
    b = augment_images(x, "light", torch.Generator().manual_seed(5))
    c = augment_images(x, "light", torch.Generator().manual_seed(6))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_none_returns_input_and_identity_spec_is_near_identity() -> None:
    x = images()
    assert augment_images(x, "none") is x
    ident = AugmentSpec(max_shift=0.0, max_rotation=0.0, scale=(1.0, 1.0), brightness=0.0, contrast=0.0)
    out = augment_images(x, ident, torch.Generator().manual_seed(0))
    assert torch.allclose(out, x, atol=1e-5)


def test_invert_and_noise_options() -> None:
    x = images()
    spec = AugmentSpec(max_shift=0.0, max_rotation=0.0, scale=(1.0, 1.0), brightness=0.0, contrast=0.0,
                       invert_p=1.0)
    assert torch.allclose(augment_images(x, spec, torch.Generator().manual_seed(0)), 1 - x, atol=1e-5)
    noisy = AugmentSpec(max_shift=0.0, max_rotation=0.0, scale=(1.0, 1.0), brightness=0.0, contrast=0.0,
                        noise=0.2)
    out = augment_images(x, noisy, torch.Generator().manual_seed(0))
    assert 0.05 < float((out - x).abs().mean()) < 0.3


def test_shift_moves_mass() -> None:
    """A pure shift moves the centre of mass and keeps it inside the image."""
    x = images(n=16)
    spec = AugmentSpec(max_shift=0.2, max_rotation=0.0, scale=(1.0, 1.0), brightness=0.0, contrast=0.0)
    out = augment_images(x, spec, torch.Generator().manual_seed(0))
    cols = torch.arange(16.0)

    def com(t: torch.Tensor) -> torch.Tensor:
        w = t.sum(dim=(1, 2))  # N x W
        return (w * cols).sum(1) / w.sum(1)

    assert float((com(out) - com(x)).abs().max()) > 0.5
