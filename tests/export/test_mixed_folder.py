"""Export and predict agree on every image of a mixed folder (modes, bit depths, sizes)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from PIL import Image

from warmstart.backbones import create_backbone, save_checkpoint
from warmstart.backbones.classifier import Classifier, InputSpec
from warmstart.cli.main import main
from warmstart.export import export_model
from warmstart.tasks import get_task
from warmstart.tasks.loaders import decode_image, probe_image

TOL = 1e-4


def _mixed_folder(folder: Path) -> Path:
    """Digits saved in every mode the loaders read, at sizes other than the model's 28x28."""
    digits = (get_task("mnist5k").x_test[:9, 0].numpy() * 255).astype(np.uint8)
    rng = np.random.default_rng(0)
    folder.mkdir()

    def colour(d: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        grey = np.array(Image.fromarray(d).resize(size, Image.Resampling.BICUBIC))
        tint = rng.uniform(0.3, 1.0, 3)
        return np.clip(grey[..., None] * tint + rng.integers(0, 40, (*grey.shape, 3)), 0, 255).astype(np.uint8)

    Image.fromarray(digits[0]).save(folder / "grey_28.png")
    Image.fromarray(digits[1]).resize((33, 40)).save(folder / "grey_40x33.png")
    Image.fromarray(colour(digits[2], (61, 50))).save(folder / "rgb_50x61.jpg", quality=90)
    Image.fromarray(colour(digits[3], (24, 20))).save(folder / "rgb_20x24.png")
    rgba = np.concatenate([colour(digits[4], (35, 35)), rng.integers(0, 256, (35, 35, 1), dtype=np.uint8)], 2)
    Image.fromarray(rgba, "RGBA").save(folder / "rgba_35.png")
    la = np.stack([digits[5], rng.integers(0, 256, (28, 28), dtype=np.uint8)], 2)
    Image.fromarray(la, "LA").save(folder / "la_28.png")
    Image.fromarray(colour(digits[6], (26, 30))).quantize(48).save(folder / "palette_30x26.png")
    wide = (digits[7].astype(np.uint16) * 257)
    Image.fromarray(np.kron(wide, np.ones((2, 3), np.uint16))).save(folder / "grey16_56x84.png")
    Image.fromarray(colour(digits[8], (90, 120))).save(folder / "rgb_big_120x90.png")
    return folder


def _raw_arrays(path: Path) -> list[np.ndarray]:
    """Lossless ways to hand the image to the exported graph: 1xHxWxC uint8, C as decoded or as stored."""
    h, w, grey = probe_image(path)
    with Image.open(path) as im:
        alpha = im.mode in ("LA", "RGBA", "PA") or "transparency" in im.info
    # decoding composites alpha on black and rounds: not lossless for images with alpha, so those go as stored
    arrays = [] if alpha else [decode_image(path, c, (h, w)).transpose(1, 2, 0) for c in ((1, 3) if grey else (3,))]
    with Image.open(path) as im:
        if im.mode in ("L", "LA", "RGB", "RGBA"):
            arrays.append(np.array(im).reshape(h, w, -1))
        elif im.mode == "P":
            arrays.append(np.array(im.convert("RGBA")))
    return [a[None] for a in arrays]


def _cli_predict(model: Path | str, folder: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, tuple[str, float]]:
    capsys.readouterr()
    code = main(["predict", str(model), str(folder)])
    out = capsys.readouterr()
    assert code == 0, out.err
    return {Path(r["input"]).name: (r["class"], float(r["probability"])) for r in csv.DictReader(io.StringIO(out.out))}


def _rgb_model(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    model = Classifier(create_backbone("smallcnn", in_chans=3, input_size=(32, 32), widths=(8, 16)), 4,
                       input_spec=InputSpec("image", [0.4, 0.45, 0.5], [0.25, 0.2, 0.3], (32, 32)))
    return save_checkpoint(model, tmp_path / "rgb-model", classes=["ant", "bee", "cat", "dog"])


@pytest.mark.parametrize("which", ["grey_mnist", "rgb"])
def test_predict_and_onnx_agree_on_every_image_of_a_mixed_folder(which, pretrained_source, tmp_path,
                                                                  capsys) -> None:
    ckpt = pretrained_source if which == "grey_mnist" else _rgb_model(tmp_path)
    folder = _mixed_folder(tmp_path / "imgs")
    onnx_file = tmp_path / "m.onnx"
    export_model(ckpt, "onnx", onnx_file)
    sess = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    props = sess.get_modelmeta().custom_metadata_map
    classes = json.loads(props["classes"])
    meta = json.loads(props["warmstart"])
    expected_classes = [str(i) for i in range(10)] if which == "grey_mnist" else ["ant", "bee", "cat", "dog"]
    assert classes == meta["classes"] == expected_classes
    chans = 1 if which == "grey_mnist" else 3
    assert meta["input"]["dtype"] == "uint8" and meta["input"]["layout"] == "NHWC"
    assert meta["input"]["channels"] == [1, 2, 3, 4] and meta["model"]["channels"] == chans
    assert meta["model"]["input_size"] == ([28, 28] if chans == 1 else [32, 32]) and len(meta["model"]["mean"]) == chans

    torch_rows = _cli_predict(ckpt, folder, capsys)
    assert len(torch_rows) == 9
    for path in sorted(folder.iterdir()):
        label, prob = torch_rows[path.name]
        for raw in _raw_arrays(path):
            probs = sess.run(None, {"input": raw})[0][0]
            assert classes[int(probs.argmax())] == label, (path.name, raw.shape)
            assert abs(float(probs.max()) - prob) < TOL, (path.name, raw.shape)
    # predict runs the exported file too, naming classes from its metadata
    assert {k: v[0] for k, v in _cli_predict(onnx_file, folder, capsys).items()} == \
        {k: v[0] for k, v in torch_rows.items()}
    for name, (_, prob) in _cli_predict(onnx_file, folder, capsys).items():
        assert abs(prob - torch_rows[name][1]) < TOL
    if which == "grey_mnist":  # the trained source reads the plain 28x28 digit right
        assert torch_rows["grey_28.png"][0] == str(int(get_task("mnist5k").y_test[0]))


@pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.jit.load is deprecated in favour of torch.export
def test_torchscript_takes_every_channel_count_and_carries_the_contract(pretrained_source, tmp_path) -> None:
    export_model(pretrained_source, "torchscript", tmp_path / "m.pt")
    files = {"warmstart.json": ""}
    scripted = torch.jit.load(str(tmp_path / "m.pt"), _extra_files=files)
    assert json.loads(files["warmstart.json"])["classes"] == [str(i) for i in range(10)]
    grey = torch.randint(0, 256, (2, 31, 45, 1), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    ref = scripted(grey)
    assert torch.allclose(scripted(grey.expand(-1, -1, -1, 3).contiguous()), ref, atol=1e-6)
    opaque = torch.cat([grey.expand(-1, -1, -1, 3), torch.full_like(grey, 255)], 3)
    assert torch.allclose(scripted(opaque), ref, atol=1e-6)
    transparent = torch.cat([grey.expand(-1, -1, -1, 3), torch.zeros_like(grey)], 3)  # composited on black
    assert torch.allclose(scripted(transparent), scripted(torch.zeros_like(grey)), atol=1e-6)


def test_predict_refuses_an_onnx_file_without_warmstart_metadata(tmp_path, capsys) -> None:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["input"], ["probabilities"])], "g",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 2])],
                              [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [1, 2])])
    onnx.save(helper.make_model(graph), str(tmp_path / "plain.onnx"))
    np.savez(tmp_path / "x.npz", X=np.zeros((1, 2), np.float32))
    assert main(["predict", str(tmp_path / "plain.onnx"), str(tmp_path / "x.npz")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "no warmstart metadata" in err and err.count("\n") == 1


def test_a_model_without_input_size_predicts_images_of_mixed_sizes_as_its_export(tmp_path, capsys) -> None:
    torch.manual_seed(1)
    model = Classifier(create_backbone("smallcnn", in_chans=1, widths=(8, 16)), 3,
                       input_spec=InputSpec("image", [0.2], [0.3], None))
    ckpt = save_checkpoint(model, tmp_path / "any-size", classes=["x", "y", "z"])
    folder = _mixed_folder(tmp_path / "imgs")
    export_model(ckpt, "onnx", tmp_path / "m.onnx")
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    rows = _cli_predict(ckpt, folder, capsys)
    for path in sorted(folder.iterdir()):
        probs = sess.run(None, {"input": _raw_arrays(path)[-1]})[0][0]
        assert abs(float(probs.max()) - rows[path.name][1]) < TOL, path.name
