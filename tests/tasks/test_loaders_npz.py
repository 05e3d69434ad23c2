"""``.npz`` loader: tabular and image arrays, given test sets, class names and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from warmstart.errors import DataError
from warmstart.tasks import load_task
from warmstart.tasks._splits import stratified_three_way
from warmstart.tasks.loaders import load_path


def _save(path: Path, **arrays: np.ndarray) -> Path:
    np.savez(path, **arrays)
    return path


def _labels(n: int, k: int = 2) -> np.ndarray:
    return np.arange(n) % k


def test_tabular_standardized_with_train_stats_only(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(5.0, 3.0, size=(60, 4))
    x[:, 3] = 7.0  # a constant feature stays finite
    y = _labels(60, 3)
    task = load_task(_save(tmp_path / "tab.npz", X=x, y=y))
    assert task.modality == "tabular" and task.input_shape == (4,)
    assert task.classes == ["0", "1", "2"]
    tr, _, te = stratified_three_way(y)
    mean, std = x[tr].mean(0), x[tr].std(0, ddof=1)
    std[3] = 1.0
    assert np.allclose(task.x_test.numpy(), (x[te] - mean) / std, atol=1e-5)
    assert np.allclose(task.x_train.mean(0).numpy(), 0, atol=1e-5)
    assert torch.equal(task.y_test, torch.from_numpy(y[te]))
    assert float(task.x_test.mean(0)[:3].abs().max()) > 1e-3  # test split is not re-standardized


@pytest.mark.parametrize("layout", ["nhw", "nhwc", "nchw"])
def test_uint8_image_layouts(tmp_path: Path, layout: str) -> None:
    rng = np.random.default_rng(1)
    c = 1 if layout == "nhw" else 3
    nchw = rng.integers(0, 256, (20, c, 6, 5), dtype=np.uint8)
    stored = {"nhw": nchw[:, 0], "nhwc": nchw.transpose(0, 2, 3, 1), "nchw": nchw}[layout]
    task = load_path(_save(tmp_path / "img.npz", X=stored, y=_labels(20)))
    assert task.modality == "image" and task.input_shape == (c, 6, 5)
    tr, _, _ = stratified_three_way(_labels(20))
    assert task.x_train.dtype == torch.float32
    assert torch.allclose(task.x_train, torch.from_numpy(nchw[tr]).float() / 255)


def test_float_images_given_test_classes_and_unlabeled(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    x = rng.random((30, 1, 4, 4)).astype(np.float32)
    xt = rng.random((6, 1, 4, 4)).astype(np.float32)
    path = _save(tmp_path / "f.npz", X=x, y=_labels(30, 3), X_test=xt, y_test=_labels(6, 3),
                 classes=np.array(["ant", "bee", "cow"]), X_unlabeled=x[:5])
    task = load_task(path)
    assert task.classes == ["ant", "bee", "cow"]
    assert torch.equal(task.x_test, torch.from_numpy(xt))  # the given test set, untouched
    assert len(task.y_train) + len(task.y_val) == 30 and len(task.y_val) == 3
    assert task.x_unlabeled.shape == (5, 1, 4, 4)


def test_string_labels_map_to_sorted_names(tmp_path: Path) -> None:
    y = np.array(["b", "a", "c"] * 10)
    task = load_path(_save(tmp_path / "s.npz", X=np.random.default_rng(0).normal(size=(30, 2)), y=y))
    assert task.classes == ["a", "b", "c"]
    tr, _, _ = stratified_three_way(np.array([{"a": 0, "b": 1, "c": 2}[v] for v in y]))
    assert task.y_train.tolist() == [{"a": 0, "b": 1, "c": 2}[v] for v in y[tr]]


def test_missing_x_or_y(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"missing array\(s\) y; found \['X'\]"):
        load_path(_save(tmp_path / "a.npz", X=np.zeros((4, 2))))
    with pytest.raises(DataError, match=r"missing array\(s\) X"):
        load_path(_save(tmp_path / "b.npz", y=np.zeros(4), features=np.zeros((4, 2))))


def test_nan_and_inf_name_the_row(tmp_path: Path) -> None:
    x = np.ones((20, 3))
    x[7, 1] = np.nan
    with pytest.raises(DataError, match=r"X row 7 contains NaN or inf"):
        load_path(_save(tmp_path / "n.npz", X=x, y=_labels(20)))
    xt = np.ones((4, 3))
    xt[2, 0] = np.inf
    with pytest.raises(DataError, match=r"X_test row 2 contains NaN or inf"):
        load_path(_save(tmp_path / "i.npz", X=np.ones((20, 3)), y=_labels(20), X_test=xt,
                        y_test=_labels(4)))


def test_bad_labels(tmp_path: Path) -> None:
    x = np.zeros((20, 2))
    y = _labels(20)
    y[5] = -1
    with pytest.raises(DataError, match=r"y row 5: label -1 is negative"):
        load_path(_save(tmp_path / "neg.npz", X=x, y=y))
    y = _labels(20, 3)
    y[4] = 3
    with pytest.raises(DataError, match=r"y row 4: label 3 is out of range for 3 classes"):
        load_path(_save(tmp_path / "oor.npz", X=x, y=y, classes=np.array(["a", "b", "c"])))
    with pytest.raises(DataError, match=r"y row 1: label 0.5 is not an integer"):
        load_path(_save(tmp_path / "frac.npz", X=x, y=np.array([0, 0.5] * 10)))
    with pytest.raises(DataError, match=r"class '1' \(label 1\) has no examples"):
        load_path(_save(tmp_path / "gap.npz", X=x, y=np.array([0, 2] * 10)))
    with pytest.raises(DataError, match=r"class 'c' \(label 2\) has no examples"):
        load_path(_save(tmp_path / "unused.npz", X=x, y=_labels(20), classes=np.array(["a", "b", "c"])))
    with pytest.raises(DataError, match="X has 20 rows but y has 19"):
        load_path(_save(tmp_path / "len.npz", X=x, y=_labels(19)))


def test_unsupported_arrays(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"float image values must be in \[0, 1\]"):
        load_path(_save(tmp_path / "f.npz", X=np.full((20, 4, 4), 255.0), y=_labels(20)))
    with pytest.raises(DataError, match="expected \\(N, D\\) features"):
        load_path(_save(tmp_path / "v.npz", X=np.zeros(20), y=_labels(20)))
    with pytest.raises(DataError, match="cannot tell the channel axis"):
        load_path(_save(tmp_path / "c.npz", X=np.zeros((20, 5, 6, 7)), y=_labels(20)))
    with pytest.raises(DataError, match="X_test and y_test must be given together"):
        load_path(_save(tmp_path / "t.npz", X=np.zeros((20, 2)), y=_labels(20), X_test=np.zeros((2, 2))))


def test_object_arrays_are_never_unpickled(tmp_path: Path) -> None:
    path = _save(tmp_path / "o.npz", X=np.zeros((20, 2)), y=np.array([0, 1] * 10, dtype=object))
    with pytest.raises(DataError, match=r"array 'y' cannot be read without unpickling"):
        load_path(path)


def test_not_an_npz(tmp_path: Path) -> None:
    (tmp_path / "junk.npz").write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"junk\.npz: not a readable \.npz archive"):
        load_path(tmp_path / "junk.npz")
