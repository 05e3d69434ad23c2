"""The timm adapter: stages from the model's structure, local weights files, checkpoints."""

from __future__ import annotations

import json
import sys

import pytest
import torch
from safetensors.torch import save_file

from warmstart.backbones import Classifier, create_backbone, load_checkpoint, save_checkpoint
from warmstart.errors import ConfigError, UnknownNameError, WarmstartError

timm = pytest.importorskip("timm")

# timm's own tiny test models: one CNN with a deep stem, an EfficientNet, a ViT, a ConvNeXt.
MODELS = ["test_resnet", "test_efficientnet", "test_vit", "test_convnext"]


def _timm_features(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model.forward_head(model.forward_features(x), pre_logits=True).flatten(1)


@pytest.mark.parametrize("name", MODELS)
def test_stages_cut_at_every_depth(name: str) -> None:
    b = create_backbone(f"timm:{name}", in_chans=1, input_size=(32, 32))
    assert b.split == "stages" and b.num_stages >= 4
    assert len(b.stage_dims) == b.num_stages
    assert b.spec.name == f"timm:{name}" and b.spec.in_chans == 1
    b.eval()
    x = torch.rand(3, 1, 32, 32)
    with torch.no_grad():
        for depth in range(1, b.num_stages + 1):
            assert b.forward_features(x, depth).shape == (3, b.stage_dims[depth - 1])
    # every parameter of the trunk and pre-logit head is owned exactly once (stages + pool)
    ref = timm.create_model(name, in_chans=1, num_classes=0,
                            **({"img_size": (32, 32)} if name == "test_vit" else {}))
    assert sum(p.numel() for p in b.parameters()) == sum(p.numel() for p in ref.parameters())
    staged = sum(p.numel() for s in b.stages for p in s.parameters())
    assert staged + sum(p.numel() for p in b.pool.parameters()) == sum(p.numel() for p in b.parameters())


def test_stage_layout_follows_the_model() -> None:
    b = create_backbone("timm:test_resnet", in_chans=1, input_size=(28, 28))
    layout = [list(dict(s.named_children())) for s in b.stages]
    assert layout == [["conv1", "bn1", "act1"], ["maxpool", "layer1"], ["layer2"], ["layer3"], ["layer4"]]
    assert b.stage_dims == [f["num_chs"] for f in b.timm_model.feature_info]
    assert b.stage_channels == b.stage_dims and b.stage_layout == "NCHW"
    mobile = create_backbone("timm:mobilenetv3_small_050", in_chans=1, input_size=(32, 32))
    assert mobile.stage_dims[-1] == 1024 and mobile.stage_channels[-1] == 288  # head conv in pool
    vit = create_backbone("timm:test_vit", in_chans=1, input_size=(32, 32))
    assert vit.stage_layout == "NLC"
    assert vit.num_stages == 1 + len(vit.timm_model.blocks)  # stem (+cls/pos embedding) + one per block
    assert "cls_token" in dict(vit.stages[0].named_parameters())


@pytest.mark.parametrize("name", ["test_resnet", "test_vit"])
def test_weights_file_matches_timm(tmp_path, name: str) -> None:
    kw = {"img_size": (32, 32)} if name == "test_vit" else {}
    src = timm.create_model(name, in_chans=1, **kw)
    file = tmp_path / "w.safetensors"
    save_file(src.state_dict(), str(file))
    b = create_backbone(f"timm:{name}", in_chans=1, input_size=(32, 32), weights=str(file))
    assert b.load_report == {"missing": [], "unexpected": []}
    b.eval()
    x = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(b.forward_features(x), _timm_features(src, x))


def test_weights_file_tensors_equal_and_first_conv_folded(tmp_path) -> None:
    src = timm.create_model("test_resnet")  # 3 channels, 1000-class classifier
    state = src.state_dict()
    for suffix, write in [("safetensors", lambda p: save_file(state, str(p))),
                          ("pth", lambda p: torch.save(state, p))]:
        file = tmp_path / f"w.{suffix}"
        write(file)
        b = create_backbone("timm:test_resnet", in_chans=3, weights=str(file))
        own = b.state_dict()
        loaded = b.timm_model.state_dict()
        ptrs = {v.data_ptr() for v in own.values()}
        for k, v in state.items():
            if k.startswith("fc."):
                assert k not in loaded  # the classifier is dropped: num_classes=0
                continue
            assert torch.equal(loaded[k], v), k
            assert loaded[k].data_ptr() in ptrs  # ...and it is the backbone's own tensor
    grey = create_backbone("timm:test_resnet", in_chans=1, weights=str(tmp_path / "w.safetensors"))
    conv = grey.timm_model.state_dict()["conv1.0.weight"]
    torch.testing.assert_close(conv, state["conv1.0.weight"].sum(dim=1, keepdim=True))


def test_weights_that_do_not_fit(tmp_path) -> None:
    other = tmp_path / "effnet.safetensors"
    save_file(timm.create_model("test_efficientnet").state_dict(), str(other))
    with pytest.raises(ConfigError, match=r"timm:test_resnet: tensor '.+' with shape \[.*\] fits no known layout"):
        create_backbone("timm:test_resnet", weights=str(other))
    renamed = tmp_path / "renamed.safetensors"  # unknown names, and safetensors keeps no order: refused
    save_file({f"x.{k}": v for k, v in timm.create_model("test_resnet").state_dict().items()},
              str(renamed))
    with pytest.raises(ConfigError, match=r"tensor 'x\.[^']+' with shape"):
        create_backbone("timm:test_resnet", weights=str(renamed))
    with pytest.raises(ConfigError, match="does not exist"):
        create_backbone("timm:test_resnet", weights=str(tmp_path / "missing.safetensors"))


def test_classifier_trains_one_step() -> None:
    b = create_backbone("timm:test_convnext", in_chans=1, input_size=(32, 32))
    model = Classifier(b, 3)
    assert len(list(b.pool.parameters())) > 0  # ConvNeXt's final norm sits in the head
    assert {id(p) for p in b.pool.parameters()} <= {id(p) for p in model.backbone_parameters()}
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.rand(8, 1, 32, 32), torch.randint(0, 3, (8,))
    before = [p.detach().clone() for p in b.stages[0].parameters()]
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    assert all(p.grad is not None for p in model.backbone_parameters())
    opt.step()
    assert any(not torch.equal(a, p) for a, p in zip(before, b.stages[0].parameters(), strict=True))
    cut = Classifier(b, 3, depth=2)
    assert cut(x).shape == (8, 3) and cut.feature_dim == b.stage_dims[1]


def test_checkpoint_round_trip_without_weights_file(tmp_path) -> None:
    file = tmp_path / "w.safetensors"
    save_file(timm.create_model("test_vit", in_chans=1, img_size=(32, 32)).state_dict(), str(file))
    b = create_backbone("timm:test_vit", in_chans=1, input_size=(32, 32), weights=str(file))
    model = Classifier(b, 4).eval()
    ckpt = save_checkpoint(model, tmp_path / "ckpt", classes=list("abcd"))
    meta_text = (ckpt / "meta.json").read_text()
    assert "w.safetensors" not in meta_text
    assert json.loads(meta_text)["backbone"]["input_size"] == [32, 32]
    file.unlink()  # rebuilding from the spec must not need the weights file
    loaded = load_checkpoint(ckpt).model.eval()
    x = torch.rand(3, 1, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))


def test_spec_and_arguments() -> None:
    vit = create_backbone("timm:test_vit", in_chans=3)
    assert vit.spec.input_size == (160, 160)  # fixed-size model: its default size is recorded
    assert create_backbone("timm:test_resnet", in_chans=3).spec.input_size is None
    b = create_backbone("timm:test_resnet", in_chans=1, drop_path_rate=0.1)
    assert b.spec.kwargs == {"drop_path_rate": 0.1}
    with pytest.raises(ConfigError, match="num_classes"):
        create_backbone("timm:test_resnet", num_classes=10)
    with pytest.raises(ConfigError, match="bogus"):
        create_backbone("timm:test_resnet", bogus=1)


def test_unknown_name_lists_close_matches() -> None:
    with pytest.raises(UnknownNameError) as info:
        create_backbone("timm:resnt18")
    assert isinstance(info.value, ConfigError)
    assert "resnet18" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="weights=FILE"):
        create_backbone("timm:hf-hub:timm/resnet18.a1_in1k")


def test_missing_timm_names_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "timm", None)
    with pytest.raises(WarmstartError, match=r"warmstart\[vision\]"):
        create_backbone("timm:resnet18")


def test_pretrained_tag_without_weights_downloads_or_says_it_cannot(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # offline, an empty Hugging Face cache: no download possible
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    import huggingface_hub.constants as hub

    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    for name, kw in [("timm:test_resnet.r160_in1k", {}), ("timm:test_resnet", {"pretrained": True})]:
        with pytest.raises(ConfigError) as info:
            create_backbone(name, in_chans=1, **kw)
        msg = str(info.value)
        assert "timm:test_resnet.r160_in1k" in msg and "--weights FILE" in msg and "\n" not in msg, msg


def test_plain_name_is_random_init_and_records_no_tag(tmp_path) -> None:
    b = create_backbone("timm:test_resnet", in_chans=1)
    assert b.weights_plan.kind == "random" and "random initialization" in b.weights_plan.describe()
    ckpt = save_checkpoint(Classifier(b, 3), tmp_path / "ckpt", classes=list("abc"))
    assert json.loads((ckpt / "meta.json").read_text())["backbone"]["name"] == "timm:test_resnet"


def test_tagged_checkpoint_rebuilds_offline_without_download(tmp_path) -> None:
    file = tmp_path / "w.safetensors"
    save_file(timm.create_model("test_resnet", in_chans=1).state_dict(), str(file))
    b = create_backbone("timm:test_resnet.r160_in1k", in_chans=1, weights=str(file))
    assert b.weights_plan.kind == "file" and b.spec.name == "timm:test_resnet.r160_in1k"
    model = Classifier(b, 2).eval()
    ckpt = save_checkpoint(model, tmp_path / "ckpt", classes=["a", "b"])
    loaded = load_checkpoint(ckpt).model.eval()  # the architecture only: no download, weights from the checkpoint
    x = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
