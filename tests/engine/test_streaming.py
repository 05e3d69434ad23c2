"""Streamed image folders: a stable data key (feature cache), augmentation of streamed batches, source cache keys."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import Subset

from warmstart.engine.config import TrainConfig
from warmstart.engine.feature_cache import data_fingerprint
from warmstart.engine.trainer import Trainer
from warmstart.errors import ConfigError
from warmstart.tasks.loaders._image_files import ImageFileDataset
from warmstart.tasks.loaders._image_folder import load_image_folder


def _folder(root, n: int = 10, size: int = 16, seed: int = 0):
    """Two classes of ``n`` colour images each: bright or dark noise (separable)."""
    rng = np.random.default_rng(seed)
    for c, (lo, hi) in enumerate([(0, 120), (135, 256)]):
        d = root / f"class{c}"
        d.mkdir(parents=True)
        for i in range(n):
            px = rng.integers(lo, hi, size=(size, size, 3), dtype=np.uint8)
            Image.fromarray(px).save(d / f"{i}.png")
    return root


def test_fingerprint_of_streamed_files(tmp_path) -> None:
    root = _folder(tmp_path / "imgs", n=3)
    files = sorted(root.rglob("*.png"))
    ds = ImageFileDataset(files, [0] * len(files), 3, (16, 16))
    key = data_fingerprint(ds)
    assert key == data_fingerprint(ImageFileDataset(files, [1] * len(files), 3, (16, 16)))  # labels: not features
    assert key != data_fingerprint(ImageFileDataset(files, None, 3, (32, 32)))  # another image size
    assert data_fingerprint(Subset(ds, [0, 1])) != data_fingerprint(Subset(ds, [1, 2]))
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(files[0])  # rewritten in place
    os.utime(files[0], ns=(1, 1))
    assert data_fingerprint(ds) != key
    with pytest.raises(ConfigError, match="data_key"):
        data_fingerprint(torch.utils.data.TensorDataset(torch.zeros(2)))


def test_linear_probe_on_a_streamed_folder_matches_in_memory(tmp_path, monkeypatch) -> None:
    timm = pytest.importorskip("timm")
    from safetensors.torch import save_file

    from warmstart import transfer
    from warmstart.backbones.import_weights import import_weights

    monkeypatch.setenv("WARMSTART_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(0)
    w = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in timm.create_model("test_resnet").state_dict().items()}, str(w))
    src = import_weights(w, "timm:test_resnet", tmp_path / "src", input_size=(32, 32))
    root = _folder(tmp_path / "photos")
    streamed = load_image_folder(root, memory_budget_mb=1e-3)
    in_memory = load_image_folder(root)
    assert streamed.provenance["streaming"] and not in_memory.provenance["streaming"]
    a = transfer(streamed, "linear_probe", source=src, progress=False)
    b = transfer(in_memory, "linear_probe", source=src, progress=False)
    assert a["test"]["accuracy"] == pytest.approx(b["test"]["accuracy"])
    assert a["info"]["feature_dim"] == b["info"]["feature_dim"]


class _Recorder(torch.nn.Module):
    """A linear model that keeps every training batch it sees."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(3 * 16 * 16, 2)
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.seen.append(x.detach().clone())
        return self.lin(x.flatten(1))


@pytest.mark.parametrize("augment", ["none", "light"])
def test_streamed_batches_are_augmented_like_in_memory_ones(tmp_path, augment) -> None:
    root = _folder(tmp_path / "imgs", n=4)
    files = sorted(root.rglob("*.png"))
    ds = ImageFileDataset(files, [i % 2 for i in range(len(files))], 3, (16, 16))
    raw = torch.stack([ds[i][0] for i in range(len(ds))])
    model = _Recorder()
    cfg = TrainConfig(epochs=1, batch_size=len(files), augment=augment, progress=False, device="cpu")
    Trainer(model, cfg).fit(ds, None)
    (batch,) = model.seen
    # each streamed image, as trained on, against its closest raw image
    dist = torch.cdist(batch.flatten(1), raw.flatten(1)).min(dim=1).values
    if augment == "none":
        assert torch.allclose(dist, torch.zeros_like(dist), atol=1e-5)
    else:
        assert (dist > 1e-3).sum() >= len(files) // 2  # most images changed by flips/crops/jitter


def test_pretrained_source_is_keyed_by_data_not_folder_name(tmp_path, monkeypatch) -> None:
    from warmstart.source import Source

    monkeypatch.setenv("WARMSTART_CACHE", str(tmp_path / "cache"))
    a = _folder(tmp_path / "a" / "train", n=6, size=8, seed=0)
    b = _folder(tmp_path / "b" / "train", n=6, size=8, seed=1)  # same name, other images

    def path(folder) -> str:
        src = Source(task_name=str(folder), pretrain_epochs=1, device="cpu")
        return str(src.checkpoint(progress=False).path)

    pa, pb = path(a), path(b)
    assert pa != pb
    assert path(a) == pa  # the same data: the cached source is reused
    for f in (a / "class0").iterdir():  # contents changed (every file: whichever split each one is in)
        Image.fromarray(np.full((8, 8, 3), 100, np.uint8)).save(f)
    assert path(a) != pa
