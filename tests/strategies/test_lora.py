"""LoRA through PEFT on a tiny timm source: what trains, what stays, the start, and that it learns."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from warmstart.errors import ConfigError
from warmstart.search.space import search_space
from warmstart.source import Source
from warmstart.strategies import get_strategy
from warmstart.strategies._transfer import source_model
from warmstart.tasks import Task

timm = pytest.importorskip("timm")
pytest.importorskip("peft")
lora = pytest.importorskip("warmstart.strategies.lora")


def _colour_task(n_per_class: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """32×32 RGB noise images whose class is the channel that is brighter."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(3).repeat_interleave(n_per_class)
    x = torch.rand(len(y), 3, 32, 32, generator=g) * 0.6
    x[torch.arange(len(y)), y] += 0.4
    return x, y


@pytest.fixture(scope="module")
def task() -> Task:
    x, y = _colour_task(12, 0)
    xt, yt = _colour_task(20, 1)
    return Task("colours", x, y, None, None, xt, yt, ["red", "green", "blue"], "image", (3, 32, 32))


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Source:
    torch.manual_seed(0)
    file = tmp_path_factory.mktemp("w") / "test_efficientnet.safetensors"
    save_file(timm.create_model("test_efficientnet").state_dict(), str(file))
    src = Source.from_options("timm:test_efficientnet", None, weights=str(file), input_size=(32, 32))
    assert src is not None
    return src


def test_outputs_at_step_zero_equal_the_source_model(task, source) -> None:
    model, _ = source_model(task, source, progress=False)
    model.eval()
    x = task.x_test[:8]
    with torch.no_grad():
        before = model(x)
    lora.add_lora(model, rank=4, alpha=8.0)
    targets, rule = lora.lora_targets(model)
    assert rule == "linear+1x1" and len(targets) > 5
    assert any(".lora_B." in n for n, _ in model.named_parameters())
    assert all(float(p.detach().abs().max()) == 0.0 for n, p in model.named_parameters() if ".lora_B." in n)  # B = 0
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(x), before, rtol=0, atol=0)


def test_trains_only_adapters_and_head_and_learns(task, source) -> None:
    ref, _ = source_model(task, source, progress=False)
    targets, _ = lora.lora_targets(ref)
    layers = {n: ref.get_submodule(n) for n in targets}
    r = 4
    expected_adapter = sum(r * (m.in_features + m.out_features) if isinstance(m, nn.Linear)
                           else r * (m.in_channels + m.out_channels) for m in layers.values())
    expected_head = ref.feature_dim * 3 + 3
    s = get_strategy("lora", rank=r, alpha=8.0, lr=3e-3, head_lr_mult=10.0, epochs=15, batch_size=12,
                     min_steps=0, augment="none", progress=False, device="cpu").fit(task, source)
    info = s.info_["lora"]
    assert info["adapter_parameters"] == expected_adapter and info["head_parameters"] == expected_head
    assert info["trainable_parameters"] == expected_adapter + expected_head  # nothing else requires grad
    assert info["layers"] == len(targets) and s.info_["head"] == "new"
    assert info["trainable_parameters"] < 0.2 * info["total_parameters"]

    # base weights: every tensor but the adapted layers' weights is exactly the source's (BN stats too);
    # each adapted weight moved by exactly the merged update (α/r)·B·A
    src_state, got = ref.state_dict(), s.model_.state_dict()
    assert set(got) == set(src_state)
    adapted = {f"{n}.weight" for n in targets}
    for key, w0 in src_state.items():
        if key.startswith("head."):
            continue
        if key not in adapted:
            assert torch.equal(got[key], w0), key
            continue
        a, b = s.adapters_[key[: -len(".weight")]]
        delta = (b.flatten(1) @ a.flatten(1)).reshape(w0.shape) * s.lora_scaling_
        torch.testing.assert_close(got[key] - w0, delta, rtol=1e-4, atol=1e-6)
    assert any(float(b.abs().max()) > 0 for _, b in s.adapters_.values())  # the adapters did train
    assert s.score(task.x_test, task.y_test) > 0.6  # chance: 1/3


def test_searchable_and_validated() -> None:
    space = search_space("lora")
    assert {"rank", "alpha", "dropout", "lr"} <= set(space)
    with pytest.raises(ConfigError, match="range"):
        get_strategy("lora", rank=0)
    cls = get_strategy("lora")
    assert "ICLR 2022" in cls.paper and cls.get_params()["rank"] == 8 and cls.get_params()["alpha"] == 16.0


def test_missing_peft_names_the_extra(monkeypatch) -> None:
    import sys

    from warmstart.errors import WarmstartError

    monkeypatch.setitem(sys.modules, "peft", None)
    with pytest.raises(WarmstartError, match=r"warmstart\[lora\]"):
        lora.import_peft()
