"""FeatureScaler and Task.in_scale: a table's rows moved into another table's standardization."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from warmstart.tasks import FeatureScaler, get_task
from warmstart.tasks._scaler import convert
from warmstart.tasks.loaders import load_path


def test_of_train_standardizes_to_zero_mean_unit_std_and_back() -> None:
    g = torch.Generator().manual_seed(0)
    raw = torch.randn(50, 3, generator=g) * torch.tensor([2.0, 0.5, 10.0]) + torch.tensor([1.0, -3.0, 100.0])
    s = FeatureScaler.of_train(raw)
    x = s.standardize(raw)
    assert torch.allclose(x.mean(0), torch.zeros(3), atol=1e-5) and torch.allclose(x.std(0), torch.ones(3), atol=1e-5)
    assert torch.allclose(s.unstandardize(x).float(), raw, atol=1e-4)
    assert FeatureScaler.from_json(s.to_json()) == s and FeatureScaler.from_json({}) is None


def test_a_constant_feature_is_left_unscaled() -> None:
    raw = torch.tensor([[1.0, 5.0], [2.0, 5.0], [3.0, 5.0]])
    s = FeatureScaler.of_train(raw)
    assert s.std[1] == 1.0 and torch.equal(s.standardize(raw)[:, 1], torch.zeros(3))


def test_convert_goes_through_the_raw_values_and_leaves_what_it_cannot_convert() -> None:
    a, b = FeatureScaler((0.0, 10.0), (1.0, 2.0)), FeatureScaler((1.0, 0.0), (2.0, 4.0))
    raw = torch.tensor([[3.0, 14.0]])
    moved = convert(b.standardize(raw), b, a)
    assert torch.allclose(moved, a.standardize(raw))  # [[3, 2]]
    x = b.standardize(raw)
    assert convert(x, None, a) is x and convert(x, b, None) is x and convert(x, b, b) is x
    assert convert(torch.zeros(1, 3), b, a).shape == (1, 3)  # other features: unchanged (the model says why)
    assert convert(["text"], b, a) == ["text"]


def test_builtin_halves_record_their_own_scaler_and_in_scale_moves_every_split() -> None:
    a, b = get_task("spam7-a"), get_task("spam7-b")
    assert a.scaler is not None and b.scaler is not None and a.scaler != b.scaler
    assert get_task("digits").scaler is None  # images: the model's own normalization
    cut = b.few_shot(5, seed=0)
    moved = cut.in_scale(a.scaler, "spam7-a")
    assert moved.scaler == a.scaler and "spam7-a" in moved.provenance["standardized"]
    for split in ("x_train", "x_test", "x_unlabeled"):
        raw = b.scaler.unstandardize(getattr(cut, split))
        assert torch.allclose(getattr(moved, split), a.scaler.standardize(raw).float(), atol=1e-5)
    assert torch.equal(moved.y_test, cut.y_test)
    assert moved.in_scale(a.scaler) is moved and cut.in_scale(None) is cut
    assert get_task("digits").in_scale(a.scaler).scaler is None  # not a table: unchanged


def test_csv_loader_records_the_train_split_scaler(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(5.0, 3.0, size=(60, 2))
    rows = ["f1,f2,label", *(f"{u:.4f},{v:.4f},{i % 2}" for i, (u, v) in enumerate(x))]
    path = tmp_path / "t.csv"
    path.write_text("\n".join(rows) + "\n")
    task = load_path(path)
    assert task.scaler is not None
    raw = task.scaler.unstandardize(task.x_train)
    assert torch.allclose(task.scaler.standardize(raw).float(), task.x_train, atol=1e-5)
    assert abs(task.scaler.mean[0] - 5.0) < 1.5
