"""Checkpoints: exact round trip, and every kind of broken folder is a one-line CheckpointError."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import torch

import warmstart
from warmstart.backbones import (
    Classifier,
    HeadSpec,
    InputSpec,
    create_backbone,
    load_checkpoint,
    read_meta,
    save_checkpoint,
)
from warmstart.backbones.checkpoint import META, WEIGHTS, sha256_file
from warmstart.errors import CheckpointError


def _model() -> Classifier:
    torch.manual_seed(0)
    backbone = create_backbone("smallcnn", in_chans=1, widths=(4, 8))
    spec = InputSpec("image", [0.1], [0.3], (28, 28))
    return Classifier(backbone, 3, HeadSpec(hidden=(6,)), input_spec=spec).eval()


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Classifier, Path]:
    model = _model()
    with torch.no_grad():  # make the batch-norm statistics non-trivial
        model.train()(torch.rand(16, 1, 28, 28))
        model.eval()
    return model, save_checkpoint(model, tmp_path / "ckpt", classes=["a", "b", "c"],
                                  source_task="digits", metrics={"accuracy": 0.5})


def test_round_trip_is_exact(saved: tuple[Classifier, Path]) -> None:
    model, path = saved
    assert sorted(p.name for p in path.iterdir()) == [META, WEIGHTS]
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temp leftovers
    ckpt = load_checkpoint(path)
    assert ckpt.classes == ["a", "b", "c"] and ckpt.meta["source_task"] == "digits"
    assert ckpt.sha256 == sha256_file(path / WEIGHTS)
    assert ckpt.model.input_spec == model.input_spec and ckpt.model.head_spec == model.head_spec
    x = torch.rand(5, 1, 32, 32)  # resized to 28×28 inside the model
    with torch.no_grad():
        assert torch.equal(model(x), ckpt.model.eval()(x))
    save_checkpoint(model, path, classes=["a", "b", "c"])  # overwriting is atomic too
    assert read_meta(path)["source_task"] is None


def test_flipped_byte_fails_the_hash(saved: tuple[Classifier, Path]) -> None:
    _, path = saved
    data = bytearray((path / WEIGHTS).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (path / WEIGHTS).write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="sha256"):
        load_checkpoint(path)


def test_truncated_weights(saved: tuple[Classifier, Path]) -> None:
    _, path = saved
    weights = path / WEIGHTS
    weights.write_bytes(weights.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="sha256"):
        load_checkpoint(path)
    meta = json.loads((path / META).read_text())  # even with a matching hash: unreadable
    meta["sha256"] = sha256_file(weights)
    (path / META).write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="unreadable"):
        load_checkpoint(path)


def test_missing_files_and_garbage_json(saved: tuple[Classifier, Path], tmp_path: Path) -> None:
    _, path = saved
    with pytest.raises(CheckpointError, match="not a folder"):
        load_checkpoint(tmp_path / "nowhere")
    (path / META).write_text("{not json", encoding="utf-8")
    with pytest.raises(CheckpointError, match="unreadable JSON"):
        load_checkpoint(path)
    (path / META).write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(CheckpointError, match="not a warmstart checkpoint"):
        load_checkpoint(path)
    (path / META).unlink()
    with pytest.raises(CheckpointError, match="missing"):
        load_checkpoint(path)


def test_meta_naming_another_architecture(saved: tuple[Classifier, Path]) -> None:
    _, path = saved
    meta = json.loads((path / META).read_text())
    meta["backbone"]["kwargs"]["widths"] = [4, 16]  # the weights file and its hash are untouched
    (path / META).write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="shape") as info:
        load_checkpoint(path)
    assert "\n" not in str(info.value)
    meta["backbone"]["kwargs"]["widths"] = [4, 8, 8]  # an extra stage: unknown weight names
    (path / META).write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="do not fit"):
        load_checkpoint(path)


def _calls(tree: ast.AST) -> list[tuple[str, ast.Call]]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            base = node.func.value
            if isinstance(base, ast.Name):
                out.append((f"{base.id}.{node.func.attr}", node))
    return out


def _kw(call: ast.Call, name: str) -> object:
    for k in call.keywords:
        if k.arg == name and isinstance(k.value, ast.Constant):
            return k.value.value
    return None


def test_nothing_is_ever_unpickled() -> None:
    """No torch.load without weights_only=True, no pickle.load(s), no numpy allow_pickle, anywhere.

    The one pickle reader allowed is a ``pickle.Unpickler`` subclass that overrides
    ``find_class`` (the restricted CIFAR-10 batch reader).
    """
    root = Path(warmstart.__file__).parent
    bad: list[str] = []
    for file in sorted(root.rglob("*.py")):
        tree = ast.parse(file.read_text(encoding="utf-8"))
        where = file.relative_to(root.parent)
        for name, call in _calls(tree):
            if name == "torch.load" and _kw(call, "weights_only") is not True:
                bad.append(f"{where}:{call.lineno} torch.load without weights_only=True")
            if name in ("pickle.load", "pickle.loads", "dill.load", "joblib.load"):
                bad.append(f"{where}:{call.lineno} {name}")
            if name in ("np.load", "numpy.load") and _kw(call, "allow_pickle") is True:
                bad.append(f"{where}:{call.lineno} {name}(allow_pickle=True)")
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and any(ast.unparse(b).endswith("Unpickler")
                                                      for b in node.bases):
                methods = {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
                if "find_class" not in methods:
                    bad.append(f"{where}:{node.lineno} unrestricted Unpickler subclass {node.name}")
            if isinstance(node, ast.Call) and ast.unparse(node.func) in ("pickle.Unpickler",
                                                                         "pickle._Unpickler"):
                bad.append(f"{where}:{node.lineno} plain pickle.Unpickler")
    assert not bad, "unpickling from disk: " + "; ".join(bad)
