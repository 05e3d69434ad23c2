"""A grey model on an RGB backbone (grey repeated inside the model) takes grey images in predict and export."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from warmstart.backbones import create_backbone, save_checkpoint
from warmstart.backbones.adapt import adapt_to_task
from warmstart.backbones.classifier import Classifier, InputSpec
from warmstart.export import export_model, predict_files
from warmstart.export._metadata import contract
from warmstart.export._raw_input import RawInputModel, accepted_channels
from warmstart.tasks._task import Task

IMAGENET = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])


@pytest.fixture(scope="module")
def grey_model() -> Classifier:
    """A 3-channel smallcnn with per-channel normalization, adapted to a 2-class grey 20×20 task."""
    torch.manual_seed(0)
    rgb = Classifier(create_backbone("smallcnn", in_chans=3, widths=(8, 16)), 2,
                     input_spec=InputSpec("image", *IMAGENET, (24, 24)))
    x = torch.rand(4, 1, 20, 20)
    y = torch.tensor([0, 1, 0, 1])
    model, _ = adapt_to_task(rgb, Task("grey", x, y, None, None, x, y, ["a", "b"], "image", (1, 20, 20)), ["a", "b"])
    return model.eval()


def test_raw_input_takes_grey_and_converts_colour_to_grey(grey_model: Classifier) -> None:
    wrapper = RawInputModel(grey_model)
    assert wrapper.channels == 1 and accepted_channels(grey_model) == [1, 2, 3, 4]
    model_contract = contract(grey_model, ["a", "b"])["model"]
    assert model_contract["channels"] == 1 and model_contract["repeat_grey_to"] == 3
    assert len(model_contract["mean"]) == 3  # the RGB normalization, after the repeat
    g = torch.Generator().manual_seed(1)
    grey = torch.randint(0, 256, (3, 24, 24, 1), dtype=torch.uint8, generator=g)
    with torch.no_grad():
        ref = torch.softmax(grey_model(grey.permute(0, 3, 1, 2).float() / 255.0), dim=1)
        torch.testing.assert_close(wrapper(grey), ref, atol=1e-6, rtol=1e-6)
        colour = grey.expand(-1, -1, -1, 3).contiguous()  # R = G = B: its luma is the grey image
        torch.testing.assert_close(wrapper(colour), ref, atol=1e-6, rtol=1e-6)


def test_onnx_export_and_predict_on_a_grey_file(grey_model: Classifier, tmp_path) -> None:
    pytest.importorskip("onnxruntime")
    ck = save_checkpoint(grey_model, tmp_path / "ck", classes=["a", "b"])
    report = export_model(ck, "onnx", tmp_path / "m.onnx")
    assert report["max_abs_diff"] < 1e-4 and "the model takes 1" in report["input"]
    pixels = np.random.default_rng(2).integers(0, 256, (31, 27), dtype=np.uint8)
    Image.fromarray(pixels, "L").save(tmp_path / "x.png")
    from_torch = predict_files(ck, tmp_path / "x.png")
    from_onnx = predict_files(tmp_path / "m.onnx", tmp_path / "x.png")
    assert from_torch[0]["class"] == from_onnx[0]["class"]
    assert abs(float(from_torch[0]["probability"]) - float(from_onnx[0]["probability"])) < 1e-4
