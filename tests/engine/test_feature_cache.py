"""The feature cache: computed once per (weights, depth, data), eval mode, no grad, disk round trip."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from warmstart.backbones.checkpoint import load_checkpoint
from warmstart.engine.embed import embed
from warmstart.engine.feature_cache import FeatureCache, cached_features
from warmstart.errors import ConfigError


def test_cache_hits_and_matches_model(pretrained_source: Path, tmp_path: Path) -> None:
    ckpt = load_checkpoint(pretrained_source)
    model = ckpt.model.train()
    x = torch.rand(20, 1, 28, 28)
    cache = FeatureCache(disk_dir=tmp_path)
    f1 = cache.get(model, x, model_key=ckpt.sha256)
    assert model.training  # mode restored
    assert not f1.requires_grad and f1.shape == (20, model.feature_dim)
    with torch.no_grad():
        ref = model.eval().features(x)
    assert torch.allclose(f1, ref, atol=1e-5)
    f2 = cache.get(model, x, model_key=ckpt.sha256)
    assert f2 is f1 and cache.hits == 1 and cache.misses == 1
    # different depth, different data, different weights -> different entries
    f3 = cache.get(model, x, model_key=ckpt.sha256, depth=1)
    assert f3.shape == (20, model.backbone.stage_dims[0])
    cache.get(model, x + 0.01, model_key=ckpt.sha256)
    cache.get(model, x, model_key="other-weights")
    assert cache.misses == 4
    maps = cache.get(model, x, model_key=ckpt.sha256, depth=2, pooled=False)
    assert maps.dim() == 4


def test_disk_round_trip(pretrained_source: Path, tmp_path: Path) -> None:
    ckpt = load_checkpoint(pretrained_source)
    x = torch.rand(8, 1, 28, 28)
    a = FeatureCache(disk_dir=tmp_path).get(ckpt.model, x, model_key=ckpt.sha256, disk=True)
    files = list(tmp_path.glob("*.safetensors"))
    assert len(files) == 1 and not list(tmp_path.glob(".*tmp"))
    fresh = FeatureCache(disk_dir=tmp_path)
    b = fresh.get(ckpt.model, x, model_key=ckpt.sha256, disk=True)
    assert fresh.misses == 0 and torch.equal(a, b)
    files[0].write_bytes(b"corrupt")  # a corrupt entry is recomputed
    c = FeatureCache(disk_dir=tmp_path).get(ckpt.model, x, model_key=ckpt.sha256, disk=True)
    assert torch.allclose(a, c)


def test_key_required(pretrained_source: Path) -> None:
    ckpt = load_checkpoint(pretrained_source)
    with pytest.raises(ConfigError, match="key"):
        cached_features(ckpt.model, torch.rand(2, 1, 28, 28))
    assert embed(ckpt.model, torch.rand(3, 1, 28, 28)).shape[0] == 3
