"""load_path / load_task dispatch: formats, options, unsupported paths."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from warmstart.errors import ConfigError, DataError, UnknownNameError
from warmstart.tasks import load_task
from warmstart.tasks.loaders import detect_format, load_path


def _npz(tmp_path: Path) -> Path:
    path = tmp_path / "d.npz"
    np.savez(path, X=np.random.default_rng(0).normal(size=(20, 3)), y=np.arange(20) % 2)
    return path


def test_detects_each_format(tmp_path: Path) -> None:
    (tmp_path / "imgs").mkdir()
    (tmp_path / "cifar").mkdir()
    (tmp_path / "cifar" / "data_batch_1.bin").write_bytes(b"")
    (tmp_path / "t.csv").write_text("a,label\n")
    assert detect_format(tmp_path / "imgs")[0] == "image folder"
    assert detect_format(tmp_path / "cifar")[0] == "CIFAR-10 batches folder"
    assert detect_format(_npz(tmp_path))[0] == "npz file"
    assert detect_format(tmp_path / "t.csv")[0] == "csv file"


def test_unknown_option_lists_valid_ones(tmp_path: Path) -> None:
    path = _npz(tmp_path)
    with pytest.raises(ConfigError, match=r"unknown option\(s\) label_column for npz file .*valid options: seed"):
        load_path(path, label_column="y")
    with pytest.raises(ConfigError, match="valid options: image_size, memory_budget_mb, seed"):
        load_path(tmp_path, colour="red")
    with pytest.raises(ConfigError, match="seed must be an int"):
        load_path(path, seed="1")


def test_none_options_mean_default(tmp_path: Path) -> None:
    task = load_task(_npz(tmp_path), label_column=None, image_size=None)
    assert task.input_shape == (3,)


def test_unsupported_and_missing_paths(tmp_path: Path) -> None:
    (tmp_path / "x.npy").write_bytes(b"")
    with pytest.raises(DataError, match=r"unsupported file type '\.npy'"):
        load_path(tmp_path / "x.npy")
    with pytest.raises(DataError, match="no such file or folder"):
        load_path(tmp_path / "missing.csv")
    with pytest.raises(UnknownNameError):
        load_task(tmp_path / "missing.csv")
