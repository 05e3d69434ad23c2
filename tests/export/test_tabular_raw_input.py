"""A tabular model takes raw rows in predict and export: standardized as its table was."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from warmstart.backbones import save_checkpoint
from warmstart.backbones.new_model import new_model
from warmstart.engine.evaluate import predict_proba
from warmstart.export import export_model, predict_files
from warmstart.export._metadata import contract
from warmstart.export._raw_input import RawInputModel
from warmstart.tasks import get_task


@pytest.fixture(scope="module")
def table_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, torch.Tensor, torch.Tensor]:
    """An (untrained) MLP for breast_cancer-b saved as a checkpoint; its test rows standardized and raw."""
    torch.manual_seed(0)
    task = get_task("breast_cancer-b")
    model = new_model(task).eval()
    folder = tmp_path_factory.mktemp("table") / "model"
    save_checkpoint(model, folder, classes=list(task.classes), source_task=task.name)
    assert task.scaler is not None
    return folder, task.x_test[:8], task.scaler.unstandardize(task.x_test[:8]).float()


def test_raw_input_model_standardizes_raw_rows(table_model) -> None:
    from warmstart.backbones.checkpoint import load_checkpoint

    folder, x, raw = table_model
    model = load_checkpoint(folder).model
    assert model.input_spec.scaler is not None
    assert torch.allclose(RawInputModel(model)(raw), predict_proba(model, x), atol=1e-5)
    inp = contract(model, ["a", "b"])["input"]
    assert len(inp["feature_mean"]) == 30 and "raw" in inp["scale"]


def test_predict_reads_raw_csv_rows(table_model, tmp_path: Path) -> None:
    from warmstart.backbones.checkpoint import load_checkpoint

    folder, x, raw = table_model
    path = tmp_path / "rows.csv"
    header = ",".join(f"f{i}" for i in range(raw.shape[1]))
    np.savetxt(path, raw.numpy(), delimiter=",", header=header, comments="", fmt="%.9g")
    rows = predict_files(folder, path)
    probs = predict_proba(load_checkpoint(folder).model, x)
    assert [r["probability"] for r in rows] == pytest.approx(probs.max(1).values.tolist(), abs=1e-4)


def test_onnx_export_takes_raw_rows(table_model, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    folder, x, raw = table_model
    report = export_model(folder, "onnx", tmp_path / "m.onnx")
    out = Path(report["path"])
    path = tmp_path / "rows.npz"
    np.savez(path, X=raw.numpy())
    from warmstart.backbones.checkpoint import load_checkpoint

    probs = predict_proba(load_checkpoint(folder).model, x)
    rows = predict_files(out, path)
    assert [r["probability"] for r in rows] == pytest.approx(probs.max(1).values.tolist(), abs=1e-4)
