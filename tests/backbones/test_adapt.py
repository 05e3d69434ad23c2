"""Grey targets on an RGB source: the grey image is repeated to RGB before the source's normalization (exact)."""

from __future__ import annotations

import copy

import pytest
import torch
from safetensors.torch import save_file

from warmstart.backbones import load_checkpoint, save_checkpoint
from warmstart.backbones.adapt import _adapt_first_conv, adapt_to_task
from warmstart.backbones.classifier import Classifier
from warmstart.backbones.zoo import zoo_model
from warmstart.tasks._task import Task

timm = pytest.importorskip("timm")
NAME = "test_efficientnet"  # ImageNet normalization: the three channels' means and stds differ


@pytest.fixture(scope="module")
def rgb_model(tmp_path_factory: pytest.TempPathFactory) -> Classifier:
    """A tiny timm EfficientNet (random weights the test writes) at 32 px with a 4-class head."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / f"{NAME}.safetensors"
    save_file({k: v.contiguous() for k, v in timm.create_model(NAME).state_dict().items()}, str(path))
    model, _, _ = zoo_model(f"timm:{NAME}", weights=path, input_size=(32, 32))
    model.replace_head(4)
    with torch.no_grad():  # logits of order one (a fresh head's are ~0.05), so differences are measurable
        model.output_layer.weight.mul_(50.0)
    assert len(set(model.input_spec.mean)) == 3  # otherwise folding the conv would be exact too
    return model.eval()


def _task(channels: int) -> Task:
    g = torch.Generator().manual_seed(1)
    x = torch.rand(8, channels, 28, 28, generator=g)
    y = torch.arange(8) % 4
    return Task(f"c{channels}", x, y, None, None, x, y, ["a", "b", "c", "d"], "image", (channels, 28, 28))


def _grey_twin(rgb: Classifier) -> tuple[Classifier, list[str]]:
    """``rgb`` adapted to a grey task, with ``rgb``'s head (adapting gives a new one)."""
    grey, report = adapt_to_task(copy.deepcopy(rgb), _task(1), None, "new")
    assert grey.head is not None and rgb.head is not None
    grey.head.load_state_dict(rgb.head.state_dict())
    notes: list[str] = report["adapted"]  # type: ignore[assignment]
    return grey.eval(), notes


def test_grey_logits_equal_the_rgb_models_on_the_repeated_image(rgb_model: Classifier) -> None:
    grey, notes = _grey_twin(rgb_model)
    assert any(n.startswith("grey images repeated to the source's 3 channels") for n in notes), notes
    assert "inputs resized from 28x28 to the source's 32x32" in notes
    assert grey.input_channels == 1 and grey.backbone.spec.in_chans == 3
    x = _task(1).x_train
    with torch.no_grad():
        ref = rgb_model(x.repeat(1, 3, 1, 1))
        got = grey(x)
        folded = copy.deepcopy(rgb_model)
        _adapt_first_conv(folded, 1)  # the conv-folding adaptation: not exact with per-channel normalization
        approx = folded.eval()(x)
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-5)
    assert (approx - ref).abs().max() > 100 * 1e-5  # so the check above can tell the two apart


def test_grey_adaptation_survives_a_checkpoint(rgb_model: Classifier, tmp_path) -> None:
    grey, _ = _grey_twin(rgb_model)
    x = _task(1).x_train
    save_checkpoint(grey, tmp_path / "ck", classes=["a", "b", "c", "d"])
    loaded = load_checkpoint(tmp_path / "ck").model.eval()
    assert loaded.input_spec.repeat_grey and loaded.input_channels == 1
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), grey(x), atol=1e-6, rtol=1e-6)
    again, report = adapt_to_task(loaded, _task(1), ["a", "b", "c", "d"])  # grey again: nothing to adapt
    assert again.input_spec.repeat_grey and report["adapted"] == ["inputs resized from 28x28 to the source's 32x32"]


def test_a_grey_adapted_model_takes_colour_images_natively(rgb_model: Classifier) -> None:
    grey, _ = _grey_twin(rgb_model)
    colour, report = adapt_to_task(grey, _task(3), ["a", "b", "c", "d"])
    assert not colour.input_spec.repeat_grey and colour.input_channels == 3
    notes: list[str] = report["adapted"]  # type: ignore[assignment]
    assert not any("convolution" in n for n in notes)
    x = _task(3).x_train
    with torch.no_grad():
        torch.testing.assert_close(colour(x), rgb_model(x), atol=1e-6, rtol=1e-6)
