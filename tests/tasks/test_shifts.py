"""Domain shifts: deterministic, shape and [0, 1] range preserved, each does what its name says."""

from __future__ import annotations

import pytest
import torch

from warmstart.tasks import get_task, list_tasks
from warmstart.tasks._shifts import SHIFTS, dilate, elastic, erode, gaussian_blur, low_contrast, scale

NEW = ("blurred", "thick", "thin", "scaled", "elastic", "lowcontrast")


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return get_task("mnist5k-a").x_train[:200]


def _ink(x: torch.Tensor) -> torch.Tensor:
    return (x > 0.5).float().sum(dim=(1, 2, 3))


def _radius(x: torch.Tensor) -> torch.Tensor:
    """Mean distance of the ink from the image centre, per image (mass-weighted)."""
    h, w = x.shape[-2:]
    ys, xs = torch.meshgrid(torch.arange(h) - (h - 1) / 2, torch.arange(w) - (w - 1) / 2, indexing="ij")
    r = (ys**2 + xs**2).sqrt()
    return (x[:, 0] * r).sum(dim=(1, 2)) / x[:, 0].sum(dim=(1, 2)).clamp_min(1e-6)


@pytest.mark.parametrize("name", sorted(SHIFTS))
def test_shift_is_deterministic_keeps_shape_and_range_and_changes_images(name: str, images: torch.Tensor) -> None:
    out = SHIFTS[name](images)
    assert out.shape == images.shape and out.dtype == images.dtype
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    assert torch.equal(out, SHIFTS[name](images.clone()))
    assert float((out - images).abs().mean()) > 0.02


def test_blur_lowers_the_high_frequencies(images: torch.Tensor) -> None:
    def edges(x: torch.Tensor) -> float:
        return float((x[..., 1:] - x[..., :-1]).abs().mean())

    assert edges(gaussian_blur(images)) < 0.6 * edges(images)
    assert torch.allclose(gaussian_blur(images).sum(), images.sum(), rtol=0.02)  # ink is spread, not lost


def test_thick_and_thin_are_dilation_and_erosion(images: torch.Tensor) -> None:
    thick, thin = dilate(images), erode(images)
    assert bool((thick >= images).all()) and bool((thin <= images).all())
    assert float(_ink(thick).mean()) > 1.5 * float(_ink(images).mean())
    assert float(_ink(thin).mean()) < 0.8 * float(_ink(images).mean())
    assert int((_ink(thin) == 0).sum()) == 0  # no digit erased entirely
    one = torch.zeros(1, 1, 7, 7)
    one[0, 0, 3, 3] = 1.0
    assert int(dilate(one).sum()) == 9 and int(erode(one).sum()) == 0  # a 3x3 square; a 1-px dot vanishes


def test_scaled_shrinks_about_the_centre(images: torch.Tensor) -> None:
    ratio = _radius(scale(images)) / _radius(images)
    assert 0.5 < float(ratio.median()) < 0.7
    assert float(scale(images).sum()) < 0.5 * float(images.sum())  # 0.6² of the area


def test_elastic_moves_ink_locally_and_differs_per_image(images: torch.Tensor) -> None:
    assert torch.allclose(elastic(images, alpha=0.0), images, atol=1e-5)  # no displacement: the identity
    out = SHIFTS["elastic"](images)
    ratio = out.sum(dim=(1, 2, 3)) / images.sum(dim=(1, 2, 3))
    assert 0.85 < float(ratio.mean()) < 1.15  # ink moved (stretched here, squeezed there), not lost
    y = get_task("mnist5k-a").y_train[:200]
    other = torch.tensor([int(torch.nonzero(y != c)[0]) for c in y])  # an image of another class
    pool = torch.nn.AvgPool2d(5, 1, 2)
    near = float((pool(out) - pool(images)).abs().mean())
    far = float((pool(images[other]) - pool(images)).abs().mean())
    assert near < 0.5 * far  # local distortion: still closer to itself than to another digit
    same = torch.stack([images[0]] * 2)
    moved = SHIFTS["elastic"](same)
    assert not torch.equal(moved[0], moved[1])  # one displacement field per image


def test_lowcontrast_is_affine_around_mid_grey(images: torch.Tensor) -> None:
    out = low_contrast(images)
    assert torch.allclose(out, 0.3 * images + 0.35)
    assert float(out.min()) >= 0.35 - 1e-6 and float(out.max()) <= 0.65 + 1e-6


@pytest.mark.parametrize("shift", NEW)
def test_named_builtin_loads(shift: str) -> None:
    assert f"mnist5k-b-{shift}" in list_tasks() and f"digits-{shift}" in list_tasks()
    base, task = get_task("mnist5k-b"), get_task(f"mnist5k-b-{shift}")
    assert task.name == f"mnist5k-b-{shift}" and task.provenance["shift"] == shift
    assert torch.equal(task.y_test, base.y_test) and task.x_test.shape == base.x_test.shape
    if shift != "elastic":  # elastic draws its fields for the whole half at once, in the half's order
        assert torch.allclose(task.x_test, SHIFTS[shift](base.x_test), atol=1e-6)
    assert torch.equal(task.x_train, get_task(f"mnist5k-b-{shift}").x_train)
