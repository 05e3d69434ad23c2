"""An ensemble of classifiers is a classifier: its probabilities are the members' average; saved, loaded, exported."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from warmstart.backbones import save_checkpoint
from warmstart.backbones.checkpoint import load_checkpoint
from warmstart.backbones.classifier import Classifier
from warmstart.backbones.ensemble import Ensemble
from warmstart.backbones.new_model import new_model
from warmstart.engine.evaluate import predict_proba
from warmstart.errors import CheckpointError
from warmstart.tasks import get_task


def _members(n: int = 3) -> list[Classifier]:
    task = get_task("breast_cancer-b")
    out = []
    for seed in range(n):
        torch.manual_seed(seed)
        out.append(new_model(task).eval())
    return out


def test_its_probabilities_are_the_average_of_its_members() -> None:
    members = _members(3)
    x = get_task("breast_cancer-b").x_test[:16]
    expected = torch.stack([predict_proba(m, x) for m in members]).mean(0)
    ens = Ensemble(members).eval()
    assert ens.size == 3 and torch.allclose(predict_proba(ens, x), expected, atol=1e-6)
    assert torch.allclose(ens.features(x), members[0].features(x))  # its features are its first member's
    assert not torch.allclose(predict_proba(ens, x), predict_proba(members[0], x), atol=1e-4)


def test_it_refuses_one_member_and_members_that_differ() -> None:
    members = _members(2)
    with pytest.raises(ValueError, match="two or more"):
        Ensemble(members[:1])
    other = new_model(get_task("wine-b"))  # other features and classes
    with pytest.raises(ValueError, match="share one architecture"):
        Ensemble([members[0], other])


def test_a_checkpoint_round_trip_and_its_first_member(tmp_path: Path) -> None:
    members = _members(2)
    task = get_task("breast_cancer-b")
    x = task.x_test[:16]
    ens = Ensemble(members).eval()
    expected, first = predict_proba(ens, x), predict_proba(members[0], x)
    save_checkpoint(ens, tmp_path / "m", classes=list(task.classes))
    meta = json.loads((tmp_path / "m" / "meta.json").read_text())
    assert meta["ensemble"] == 2 and meta["format_version"] == 2
    loaded = load_checkpoint(tmp_path / "m").model
    assert isinstance(loaded, Ensemble) and torch.allclose(predict_proba(loaded, x), expected, atol=1e-6)
    alone = load_checkpoint(tmp_path / "m", first_member=True).model  # what a transfer source fine-tunes
    assert type(alone) is Classifier and torch.allclose(predict_proba(alone, x), first, atol=1e-6)
    save_checkpoint(members[0], tmp_path / "one", classes=list(task.classes))
    assert json.loads((tmp_path / "one" / "meta.json").read_text())["format_version"] == 1  # plain: as before
    meta["ensemble"] = 1
    (tmp_path / "m" / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="ensemble of 1"):
        load_checkpoint(tmp_path / "m")


def test_the_exported_graph_averages_the_members(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from warmstart.export import export_model, predict_files

    task = get_task("breast_cancer-b")
    ens = Ensemble(_members(3)).eval()
    save_checkpoint(ens, tmp_path / "m", classes=list(task.classes))
    report = export_model(tmp_path / "m", "onnx", tmp_path / "m.onnx")
    assert task.scaler is not None
    raw = task.scaler.unstandardize(task.x_test[:8]).float()
    np.savez(tmp_path / "rows.npz", X=raw.numpy())
    rows = predict_files(Path(report["path"]), tmp_path / "rows.npz")
    probs = predict_proba(ens, task.x_test[:8])
    assert [r["probability"] for r in rows] == pytest.approx(probs.max(1).values.tolist(), abs=1e-4)


def test_predict_on_the_checkpoint_and_transfer_from_it(tmp_path: Path) -> None:
    """``warmstart predict`` reads an ensemble's checkpoint; a transfer from it fine-tunes its first member."""
    from warmstart.export import predict_files
    from warmstart.recipe import Recipe, run_recipe
    from warmstart.source import Source

    task = get_task("breast_cancer-b")
    ens = Ensemble(_members(2)).eval()
    save_checkpoint(ens, tmp_path / "m", classes=list(task.classes), source_task=task.name)
    assert task.scaler is not None
    raw = task.scaler.unstandardize(task.x_test[:8]).float()
    np.savez(tmp_path / "rows.npz", X=raw.numpy())
    rows = predict_files(tmp_path / "m", tmp_path / "rows.npz")
    assert [r["probability"] for r in rows] == pytest.approx(
        predict_proba(ens, task.x_test[:8]).max(1).values.tolist(), abs=1e-4)
    source = Source(path=tmp_path / "m")
    assert type(source.checkpoint(progress=False).model) is Classifier
    res = run_recipe(task.few_shot(5, seed=0), Recipe("finetune", {"epochs": 1}, source=str(tmp_path / "m")),
                     validation="none", source=source)
    assert type(res.strategy.model_) is Classifier and res.test is not None
