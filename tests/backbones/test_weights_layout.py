"""Foreign weights files: safe reading, and each supported layout mapped onto timm's names."""

from __future__ import annotations

import re
from collections import OrderedDict

import pytest
import torch
from safetensors.torch import save_file

from warmstart.backbones import create_backbone
from warmstart.backbones.weights_file import read_state_dict
from warmstart.errors import ConfigError

timm = pytest.importorskip("timm")


def _features(backbone: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    backbone.eval()
    with torch.no_grad():
        return backbone(x)


# timm EfficientNet names → EfficientNet-PyTorch names (written independently of the library's table)
_TO_EFFNET_PYTORCH = {
    True: {"conv_pw": "_expand_conv", "bn1": "_bn0", "conv_dw": "_depthwise_conv", "bn2": "_bn1",
           "se.conv_reduce": "_se_reduce", "se.conv_expand": "_se_expand", "conv_pwl": "_project_conv", "bn3": "_bn2"},
    False: {"conv_dw": "_depthwise_conv", "bn1": "_bn1", "se.conv_reduce": "_se_reduce",
            "se.conv_expand": "_se_expand", "conv_pw": "_project_conv", "bn2": "_bn2"},
}


def _effnet_pytorch_layout(state: dict[str, torch.Tensor]) -> OrderedDict[str, torch.Tensor]:
    blocks = sorted({(int(i), int(j)) for i, j in re.findall(r"^blocks\.(\d+)\.(\d+)\.", "\n".join(state), re.M)})
    flat = {b: n for n, b in enumerate(blocks)}
    out: OrderedDict[str, torch.Tensor] = OrderedDict()
    for k, v in state.items():
        m = re.match(r"blocks\.(\d+)\.(\d+)\.(.+?)\.(weight|bias|running_mean|running_var|num_batches_tracked)$", k)
        if m:
            i, j = int(m.group(1)), int(m.group(2))
            expand = f"blocks.{i}.{j}.conv_pwl.weight" in state
            out[f"_blocks.{flat[(i, j)]}.{_TO_EFFNET_PYTORCH[expand][m.group(3)]}.{m.group(4)}"] = v
        else:
            top, _, rest = k.partition(".")
            new = {"conv_stem": "_conv_stem", "bn1": "_bn0", "conv_head": "_conv_head", "bn2": "_bn1",
                   "classifier": "_fc"}[top]
            out[f"{new}.{rest}"] = v
    return out


@pytest.fixture(scope="module")
def lite0() -> torch.nn.Module:
    torch.manual_seed(0)
    return timm.create_model("efficientnet_lite0").eval()


def test_efficientnet_pytorch_layout_by_name_in_any_order(tmp_path, lite0) -> None:
    foreign = _effnet_pytorch_layout(lite0.state_dict())
    assert len(foreign) == 296 and "_blocks.15._project_conv.weight" in foreign
    shuffled = OrderedDict(reversed(list(foreign.items())))  # names, not order, carry the mapping
    for file, state in [(tmp_path / "e.pth", shuffled), (tmp_path / "e.safetensors", foreign)]:
        if file.suffix == ".pth":
            torch.save(state, file)
        else:
            save_file(dict(state), str(file))
        b = create_backbone("timm:efficientnet_lite0", in_chans=3, input_size=(64, 64), weights=str(file))
        assert b.weights_layout == "efficientnet-pytorch" and b.load_report == {"missing": [], "unexpected": []}
        x = torch.rand(2, 3, 64, 64)
        ref = lite0.forward_head(lite0.forward_features(x), pre_logits=True)
        torch.testing.assert_close(_features(b, x), ref.detach())
        torch.testing.assert_close(b.pretrained_head["weight"], lite0.classifier.weight.detach())


def test_order_fallback_for_unknown_names(tmp_path, lite0) -> None:
    state = lite0.state_dict()
    renamed = OrderedDict((f"p{i}", v) for i, v in enumerate(state.values()))
    torch.save(renamed, tmp_path / "r.pth")
    b = create_backbone("timm:efficientnet_lite0", in_chans=3, input_size=(64, 64), weights=str(tmp_path / "r.pth"))
    assert b.weights_layout == "order"
    x = torch.rand(2, 3, 64, 64)
    torch.testing.assert_close(_features(b, x), lite0.forward_head(lite0.forward_features(x), pre_logits=True).detach())
    # the same names in another order fail the shape check: refused, naming the first tensor that does not fit
    swapped = list(renamed.items())
    swapped[1], swapped[6] = swapped[6], swapped[1]
    torch.save(OrderedDict(swapped), tmp_path / "s.pth")
    with pytest.raises(ConfigError, match=r"tensor 'p6' with shape \[32, 1, 3, 3\] fits no known layout"):
        create_backbone("timm:efficientnet_lite0", weights=str(tmp_path / "s.pth"))


def test_torchvision_resnet_names_are_timm_resnet_names(tmp_path) -> None:
    tv = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    ref = tv.models.resnet18(weights=None).eval()
    file = tmp_path / "resnet18-torchvision.pth"
    torch.save(ref.state_dict(), file)
    b = create_backbone("timm:resnet18", in_chans=3, input_size=(64, 64), weights=str(file))
    assert b.weights_layout == "timm" and b.load_report == {"missing": [], "unexpected": []}
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        trunk = torch.nn.Sequential(*list(ref.children())[:-1])  # up to the average pool
        torch.testing.assert_close(_features(b, x), trunk(x).flatten(1))
        logits = torch.nn.functional.linear(b(x), b.pretrained_head["weight"], b.pretrained_head["bias"])
        torch.testing.assert_close(logits, ref(x))


class _Boom:
    """A pickle payload that would write a marker file if it were ever unpickled in full."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (open, (self.marker, "w"))


def test_pickle_that_is_not_a_state_dict_is_refused_never_run(tmp_path) -> None:
    marker = tmp_path / "executed"
    evil = tmp_path / "evil.pth"
    torch.save({"conv1.weight": torch.zeros(1), "payload": _Boom(str(marker))}, evil)
    with pytest.raises(ConfigError, match="refused"):
        read_state_dict(evil)
    with pytest.raises(ConfigError, match="refused"):
        create_backbone("timm:test_resnet", weights=str(evil))
    assert not marker.exists()
    torch.save([torch.zeros(2)], tmp_path / "list.pth")
    with pytest.raises(ConfigError, match="no state dict"):
        read_state_dict(tmp_path / "list.pth")
    torch.save({"w": torch.zeros(2), "epoch": 3}, tmp_path / "mixed.pth")
    with pytest.raises(ConfigError, match="'epoch' is a int, not a tensor"):
        read_state_dict(tmp_path / "mixed.pth")
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 20)
    with pytest.raises(ConfigError, match="not a readable safetensors"):
        read_state_dict(tmp_path / "junk.safetensors")
    (tmp_path / "w.npz").write_bytes(b"")
    with pytest.raises(ConfigError, match="unknown format"):
        read_state_dict(tmp_path / "w.npz")


def test_training_checkpoint_wrappers_are_opened(tmp_path) -> None:
    state = {"a.weight": torch.ones(2, 2), "b.bias": torch.zeros(2)}
    torch.save({"model": {f"module.{k}": v for k, v in state.items()}, "epoch": 7}, tmp_path / "ck.pth")
    got = read_state_dict(tmp_path / "ck.pth")
    assert list(got) == list(state) and all(torch.equal(got[k], v) for k, v in state.items())
