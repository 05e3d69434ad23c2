"""Export to ONNX/TorchScript on raw inputs, and predict on files."""

from __future__ import annotations

import csv
import io
import shutil

import numpy as np
import onnxruntime as ort
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from warmstart.backbones import load_checkpoint
from warmstart.cli.main import app
from warmstart.export import export_model, predict_files
from warmstart.export._raw_input import RawInputModel

runner = CliRunner()


def test_onnx_matches_pytorch_on_raw_uint8_of_other_sizes(pretrained_source, tmp_path) -> None:
    report = export_model(pretrained_source, "onnx", tmp_path / "m.onnx")
    assert report["max_abs_diff"] < 1e-4
    model = load_checkpoint(pretrained_source).model.eval()
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    for h, w in ((28, 28), (40, 33), (17, 64)):
        raw = torch.randint(0, 256, (4, h, w, 1), dtype=torch.uint8, generator=torch.Generator().manual_seed(h))
        got = sess.run(None, {"input": raw.numpy()})[0]
        with torch.no_grad():
            ref = RawInputModel(model)(raw).numpy()
        assert np.abs(got - ref).max() < 1e-4
        assert np.allclose(got.sum(1), 1.0, atol=1e-5)


def test_torchscript_export_and_cli(pretrained_source, tmp_path) -> None:
    res = runner.invoke(app, ["export", str(pretrained_source), "--format", "torchscript", "-o",
                              str(tmp_path / "m.pt"), "--json"])
    assert res.exit_code == 0, res.output
    scripted = torch.jit.load(str(tmp_path / "m.pt"))
    out = scripted(torch.zeros(2, 30, 30, 1, dtype=torch.uint8))
    assert out.shape == (2, 10)


def test_export_errors(pretrained_source, tmp_path) -> None:
    res = runner.invoke(app, ["export", str(pretrained_source), "--format", "tflite", "-o", str(tmp_path / "x")])
    assert res.exit_code == 2 and "valid: onnx, torchscript" in res.stderr
    res = runner.invoke(app, ["export", str(tmp_path), "-o", str(tmp_path / "x.onnx")])
    assert res.exit_code == 2 and "not a warmstart model" in res.stderr
    assert not (tmp_path / "x.onnx").exists()


def test_predict_image_folder_single_image_npz_and_csv_output(pretrained_source, tmp_path) -> None:
    from warmstart.tasks import get_task

    task = get_task("mnist5k")
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(6):
        Image.fromarray((task.x_test[i, 0].numpy() * 255).astype(np.uint8)).save(folder / f"{i}.png")
    rows = predict_files(pretrained_source, folder)
    assert len(rows) == 6 and all(0 <= r["probability"] <= 1 for r in rows)
    assert sum(r["class"] == str(int(task.y_test[i])) for i, r in enumerate(rows)) >= 3
    assert len(predict_files(pretrained_source, folder / "0.png")) == 1
    np.savez(tmp_path / "x.npz", X=(task.x_test[:5, 0].numpy() * 255).astype(np.uint8))
    res = runner.invoke(app, ["predict", str(pretrained_source), str(tmp_path / "x.npz")])
    assert res.exit_code == 0, res.output
    parsed = list(csv.DictReader(io.StringIO(res.stdout)))
    assert len(parsed) == 5 and set(parsed[0]) == {"input", "class", "probability"}
    res = runner.invoke(app, ["predict", str(pretrained_source), str(folder), "-o", str(tmp_path / "p.csv")])
    assert res.exit_code == 0 and (tmp_path / "p.csv").read_text().count("\n") == 7


@pytest.mark.parametrize("bad", ["shape", "not_model", "missing", "corrupt_image"])
def test_predict_bad_input_is_one_line_exit_2(pretrained_source, tmp_path, bad) -> None:
    model, inp = str(pretrained_source), tmp_path / "x.npz"
    if bad == "shape":
        np.savez(inp, X=np.zeros((3, 3, 28, 28), np.float32))
    elif bad == "not_model":
        np.savez(inp, X=np.zeros((3, 28, 28), np.float32))
        model = str(tmp_path)
    elif bad == "missing":
        inp = tmp_path / "nope.npz"
    else:
        inp = tmp_path / "broken.png"
        inp.write_bytes(b"\x89PNG not really")
    res = runner.invoke(app, ["predict", model, str(inp)])
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith("error:") and res.stderr.count("\n") == 1
    assert "Traceback" not in res.output


def test_export_leaves_nothing_when_model_has_no_head(pretrained_source, tmp_path) -> None:
    from warmstart.backbones import save_checkpoint

    ckpt = load_checkpoint(pretrained_source)
    ckpt.model.head = None
    headless = tmp_path / "headless"
    save_checkpoint(ckpt.model, headless, classes=None)
    res = runner.invoke(app, ["export", str(headless), "-o", str(tmp_path / "h.onnx")])
    assert res.exit_code == 2 and "no classifier head" in res.stderr
    assert not (tmp_path / "h.onnx").exists()
    shutil.rmtree(headless)
