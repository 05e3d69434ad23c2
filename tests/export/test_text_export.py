"""predict and ONNX export of a text classifier (MiniLM + a linear-probe head), offline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.tasks._text_data import write_topic_csv
from warmstart.backbones.checkpoint import save_checkpoint
from warmstart.errors import DataError, IncompatibleError
from warmstart.export.exporter import export_model
from warmstart.export.predict import predict_files
from warmstart.recipe import Recipe, run_recipe
from warmstart.source import Source
from warmstart.tasks import load_task

pytest.importorskip("transformers")
ort = pytest.importorskip("onnxruntime")
hf_text = pytest.importorskip("warmstart.backbones.hf_text")

NEW = ["Whisk the cream until it forms soft peaks.", "It will rain all day tomorrow.",
       "The midfielder scored from a free kick."]


@pytest.fixture(scope="module")
def text_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(checkpoint folder, topic CSV): a linear probe on MiniLM at 4 sentences per class."""
    root = tmp_path_factory.mktemp("text-export")
    csv_path = write_topic_csv(root / "topics.csv")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        task = load_task(csv_path)
        result = run_recipe(task, Recipe("linear_probe", shots=4, seed=0),
                            source=Source(f"hf:{hf_text.minilm_path()}"), device="cpu", validation="none")
    return save_checkpoint(result.strategy.model_, root / "ckpt", classes=task.classes), csv_path


def test_predict_txt_and_csv(text_model: tuple[Path, Path], tmp_path: Path) -> None:
    ckpt, csv_path = text_model
    txt = tmp_path / "new.txt"
    txt.write_text("\n".join(NEW[:2]) + "\n\n" + NEW[2] + "\n", encoding="utf-8")
    rows = predict_files(ckpt, txt)
    assert [r["input"] for r in rows] == NEW
    assert [r["class"] for r in rows] == ["cooking", "weather", "sports"]
    assert all(1 / 3 < r["probability"] <= 1 for r in rows)
    on_csv = predict_files(ckpt, csv_path)
    assert len(on_csv) == 48 and on_csv[0]["class"] == "sports"  # the first row is a sports sentence


def test_predict_bad_text_inputs(text_model: tuple[Path, Path], tmp_path: Path) -> None:
    ckpt, csv_path = text_model
    with pytest.raises(DataError, match=r"no text column 'sentence'; columns are: id, text, topic"):
        predict_files(ckpt, csv_path, text_column="sentence")
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine line\nca\xffe\n")
    with pytest.raises(DataError, match=r"byte 0xff at byte offset 12 \(line 2\)"):
        predict_files(ckpt, bad)
    with pytest.raises(DataError, match="text model takes"):
        predict_files(ckpt, tmp_path)


def test_onnx_export_takes_token_ids_and_matches_pytorch(text_model: tuple[Path, Path], tmp_path: Path) -> None:
    ckpt, _ = text_model
    out = tmp_path / "text.onnx"
    report = export_model(ckpt, "onnx", out)
    assert report["max_abs_diff"] <= 1e-4
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["input_ids", "attention_mask"]
    meta = json.loads(sess.get_modelmeta().custom_metadata_map["warmstart"])
    assert meta["modality"] == "text" and meta["classes"] == ["cooking", "sports", "weather"]
    assert meta["input"]["tokenizer"] == str(hf_text.minilm_path()) and meta["input"]["max_length"] == 128
    txt = tmp_path / "new.txt"
    txt.write_text("\n".join(NEW), encoding="utf-8")
    from_onnx, from_ckpt = predict_files(out, txt), predict_files(ckpt, txt)
    assert [r["class"] for r in from_onnx] == [r["class"] for r in from_ckpt]
    np.testing.assert_allclose([r["probability"] for r in from_onnx], [r["probability"] for r in from_ckpt],
                               atol=1e-4)


def test_torchscript_export_of_text_is_refused(text_model: tuple[Path, Path], tmp_path: Path) -> None:
    with pytest.raises(IncompatibleError, match="ONNX only"):
        export_model(text_model[0], "torchscript", tmp_path / "m.pt")
    assert not (tmp_path / "m.pt").exists()
