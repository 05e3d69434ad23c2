"""Conformance test over the backbone registry: every plain name obeys the Backbone contract."""

from __future__ import annotations

import json

import pytest
import torch

from warmstart.backbones import Backbone, BackboneSpec, create_backbone, create_from_spec, list_backbones
from warmstart.errors import ConfigError, UnknownNameError

PLAIN = [n for n in list_backbones() if ":" not in n]
IN_CHANS = 2


def _input(b: Backbone, n: int = 4) -> torch.Tensor:
    torch.manual_seed(0)
    if b.modality == "image":
        size = b.spec.input_size or (28, 28)
        return torch.rand(n, IN_CHANS, *size)
    assert b.modality == "tabular", f"add an input for modality {b.modality!r}"
    return torch.randn(n, IN_CHANS)


def test_registry_lists_the_builtins_and_adapters() -> None:
    assert {"smallcnn", "resnet", "mlp"} <= set(PLAIN)
    assert "timm:<name>" in list_backbones() and "hf:<name or folder>" in list_backbones()


@pytest.mark.parametrize("name", PLAIN)
def test_forward_at_every_depth(name: str) -> None:
    b = create_backbone(name, in_chans=IN_CHANS)
    assert isinstance(b, Backbone) and b.num_stages == len(b.stage_dims) >= 1
    assert b.feature_dim == b.stage_dims[-1]
    b.eval()
    x = _input(b)
    with torch.no_grad():
        for depth in range(1, b.num_stages + 1):
            assert b.forward_features(x, depth).shape == (4, b.stage_dims[depth - 1])
            unpooled = b.forward_stages(x, 0, depth)
            assert torch.equal(b.pool(unpooled), b.forward_features(x, depth))
        # running the stages in two pieces is the same as running them at once
        mid = b.num_stages // 2
        torch.testing.assert_close(b.forward_stages(b.forward_stages(x, 0, mid), mid),
                                   b.forward_stages(x))
        assert torch.equal(b(x), b.forward_features(x))


@pytest.mark.parametrize("name", PLAIN)
def test_freeze_via_stages(name: str) -> None:
    b = create_backbone(name, in_chans=IN_CHANS)
    for p in b.stages[0].parameters():
        p.requires_grad_(False)
    b.forward_features(_input(b)).pow(2).sum().backward()
    assert all(p.grad is None for p in b.stages[0].parameters())
    assert all(p.grad is not None for s in b.stages[1:] for p in s.parameters() if p.requires_grad)
    if b.num_stages > 1:
        assert any(p.grad is not None for p in b.stages[-1].parameters())


@pytest.mark.parametrize("name", PLAIN)
def test_spec_rebuilds_the_same_architecture(name: str) -> None:
    b = create_backbone(name, in_chans=IN_CHANS)
    spec = BackboneSpec.from_json(json.loads(json.dumps(b.spec.to_json())))
    assert spec == b.spec and spec.name == name and spec.in_chans == IN_CHANS
    rebuilt = create_from_spec(spec)
    shapes = {k: tuple(v.shape) for k, v in b.state_dict().items()}
    assert shapes == {k: tuple(v.shape) for k, v in rebuilt.state_dict().items()}
    assert rebuilt.stage_dims == b.stage_dims
    rebuilt.load_state_dict(b.state_dict())
    b.eval()
    rebuilt.eval()
    x = _input(b)
    with torch.no_grad():
        assert torch.equal(b(x), rebuilt(x))


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(UnknownNameError) as info:
        create_backbone("smalcnn")
    msg = str(info.value)
    assert "'smalcnn'" in msg and all(n in msg for n in PLAIN) and "\n" not in msg


@pytest.mark.parametrize(("name", "kwargs"), [
    ("smallcnn", {"bogus": 1}),
    ("resnet", {"depth": 0}),
    ("mlp", {"hidden": "wide"}),
    ("smallcnn", {"weights": "model.safetensors"}),
])
def test_bad_arguments_are_config_errors(name: str, kwargs: dict) -> None:
    with pytest.raises(ConfigError, match=name):
        create_backbone(name, **kwargs)
