"""TrainConfig refuses out-of-range values with a message naming the field and range."""

from __future__ import annotations

import pytest

from warmstart.engine import TrainConfig, resolve_device
from warmstart.errors import ConfigError, WarmstartError


@pytest.mark.parametrize(("field", "value", "message"), [
    ("epochs", 0, "epochs must be >= 1"),
    ("batch_size", 0, "batch_size must be >= 1"),
    ("lr", 0.0, "lr must be > 0, got 0.0"),
    ("lr", -1e-3, "lr must be > 0, got -0.001"),
    ("weight_decay", -0.1, "weight_decay must be >= 0"),
    ("optimizer", "adam", "optimizer must be adamw or sgd, got 'adam'"),
    ("schedule", "step", "schedule must be cosine or constant, got 'step'"),
    ("label_smoothing", 1.0, r"label_smoothing must be in \[0, 1\)"),
    ("augment", "heavy", "augment must be none, light or strong, got 'heavy'"),
    ("patience", 0, "patience must be >= 1"),
    ("min_steps", -1, "min_steps and warmup_steps must be >= 0"),
    ("warmup_steps", -5, "min_steps and warmup_steps must be >= 0"),
    ("grad_clip", 0.0, "grad_clip must be > 0"),
])
def test_bad_values_raise_config_error(field: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        TrainConfig(**{field: value})  # type: ignore[arg-type]
    assert isinstance(info.value, WarmstartError)
    assert "\n" not in str(info.value)


def test_defaults_are_valid_and_round_trip_to_json() -> None:
    cfg = TrainConfig()
    assert TrainConfig(**cfg.to_json()) == cfg
    cfg.lr = -1.0
    with pytest.raises(ConfigError):
        cfg.validate()


def test_device_names() -> None:
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ConfigError, match="unknown device 'tpu'; valid: auto, cpu, cuda, cuda:N"):
        resolve_device("tpu")


def test_warmstart_device_sets_what_auto_means(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # a GPU machine, as auto sees it
    monkeypatch.setenv("WARMSTART_DEVICE", "cpu")
    assert resolve_device("auto").type == "cpu" and resolve_device(None).type == "cpu"
    assert resolve_device("cuda").type == "cuda"  # an explicit device is not overridden
    monkeypatch.setenv("WARMSTART_DEVICE", "auto")
    assert resolve_device("auto").type == "cuda"
    monkeypatch.delenv("WARMSTART_DEVICE")
    assert resolve_device("auto").type == "cuda"
    monkeypatch.setenv("WARMSTART_DEVICE", "tpu")
    with pytest.raises(ConfigError, match="WARMSTART_DEVICE='tpu': unknown device 'tpu'"):
        resolve_device("auto")
