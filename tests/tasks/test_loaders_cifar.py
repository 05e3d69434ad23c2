"""CIFAR-10 batches loader: the exact python and binary formats, and refusing bad pickles."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from warmstart.errors import DataError
from warmstart.tasks import load_task
from warmstart.tasks.loaders import load_path

NAMES = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse",
         b"ship", b"truck"]


def _batch(n: int, seed: int) -> tuple[np.ndarray, list[int]]:
    data = np.random.default_rng(seed).integers(0, 256, (n, 3072), dtype=np.uint8)
    return data, [i % 10 for i in range(n)]


def _dump(path: Path, obj: object, protocol: int = 2) -> None:
    with open(path, "wb") as fh:
        pickle.dump(obj, fh, protocol=protocol)


def _python_dir(root: Path, batches: dict[str, int], meta: bool = True) -> dict[str, tuple]:
    """Write files exactly like cifar-10-batches-py: dicts with bytes keys."""
    root.mkdir(parents=True, exist_ok=True)
    out = {}
    for i, (name, n) in enumerate(batches.items()):
        data, labels = _batch(n, seed=i)
        _dump(root / name, {b"batch_label": f"{name} of 5".encode(), b"labels": labels,
                            b"data": data, b"filenames": [b"x.png"] * n})
        out[name] = (data, labels)
    if meta:
        _dump(root / "batches.meta", {b"num_cases_per_batch": 10000, b"label_names": NAMES,
                                      b"num_vis": 3072})
    return out


def _binary_dir(root: Path, batches: dict[str, tuple]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for name, (data, labels) in batches.items():
        records = np.concatenate([np.asarray(labels, np.uint8)[:, None], data], axis=1)
        (root / f"{name}.bin").write_bytes(records.tobytes())
    (root / "batches.meta.txt").write_text("\n".join(n.decode() for n in NAMES) + "\n\n")


def test_python_batches(tmp_path: Path) -> None:
    written = _python_dir(tmp_path / "cifar", {"data_batch_1": 50, "test_batch": 20})
    task = load_task(tmp_path / "cifar")
    assert task.classes == [n.decode() for n in NAMES] and task.input_shape == (3, 32, 32)
    assert len(task.y_train) + len(task.y_val) == 50 and len(task.y_val) > 0
    assert task.x_train.dtype == torch.float32
    assert float(task.x_train.min()) >= 0 and float(task.x_train.max()) <= 1
    data, labels = written["test_batch"]
    assert task.y_test.tolist() == labels  # the test batch is the test split, in order
    # 3072 bytes = R plane, G plane, B plane of 32×32, row-major
    i, row, col = 3, 5, 7
    for ch in range(3):
        assert task.x_test[i, ch, row, col] == pytest.approx(data[i, ch * 1024 + row * 32 + col] / 255)
    assert torch.allclose(task.x_test, torch.from_numpy(data).float().view(-1, 3, 32, 32) / 255)


def test_any_subset_of_data_batches_and_no_test_batch(tmp_path: Path) -> None:
    _python_dir(tmp_path, {"data_batch_1": 30, "data_batch_3": 40}, meta=False)
    task = load_path(tmp_path)
    assert task.classes == [str(i) for i in range(10)]  # no batches.meta
    assert len(task.y_train) + len(task.y_val) + len(task.y_test) == 70
    assert task.provenance["batches"] == ["data_batch_1", "data_batch_3"]


def test_numpy1_and_protocol5_pickles_load(tmp_path: Path) -> None:
    data, labels = _batch(20, seed=0)
    raw = pickle.dumps({b"data": data, b"labels": labels}, protocol=2)
    # the real files were written by numpy 1, whose reconstructor lives in numpy.core
    old_style = raw.replace(b"numpy._core.", b"numpy.core.")
    assert b"cnumpy.core.multiarray\n_reconstruct\n" in old_style
    (tmp_path / "data_batch_1").write_bytes(old_style)
    _dump(tmp_path / "data_batch_2", {b"data": data, b"labels": np.array(labels)}, protocol=5)
    task = load_path(tmp_path)
    assert len(task.y_train) + len(task.y_val) + len(task.y_test) == 40


def test_binary_batches_match_python_batches(tmp_path: Path) -> None:
    written = _python_dir(tmp_path / "py", {"data_batch_1": 40, "data_batch_2": 20, "test_batch": 20})
    _binary_dir(tmp_path / "bin", written)
    py, bn = load_path(tmp_path / "py"), load_path(tmp_path / "bin")
    assert bn.classes == py.classes
    assert bn.provenance["format"] == "cifar10 binary batches"
    for split in ("x_train", "x_val", "x_test", "y_train", "y_val", "y_test"):
        assert torch.equal(getattr(bn, split), getattr(py, split))


def test_parent_of_batches_folder_resolves(tmp_path: Path) -> None:
    _python_dir(tmp_path / "cifar-10-batches-py", {"data_batch_1": 30})
    assert load_task(tmp_path).name == "cifar-10-batches-py"


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # what a malicious batch file would contain
        return (os.system, (f"touch {self.marker}",))


def test_forbidden_global_is_refused_and_not_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    _python_dir(tmp_path / "c", {"data_batch_1": 30})
    _dump(tmp_path / "c" / "data_batch_2", {b"data": _Evil(marker), b"labels": [0]})
    with pytest.raises(DataError, match=r"data_batch_2: refused to unpickle forbidden global '(posix|os|nt)\.system'"):
        load_path(tmp_path / "c")
    assert not marker.exists()
    # the meta file goes through the same unpickler
    _dump(tmp_path / "c" / "data_batch_2", {b"data": np.zeros((1, 3072), np.uint8), b"labels": [0]})
    _dump(tmp_path / "c" / "batches.meta", {b"label_names": [_Evil(marker)]})
    with pytest.raises(DataError, match=r"batches\.meta: refused to unpickle forbidden global"):
        load_path(tmp_path / "c")
    assert not marker.exists()


def test_other_forbidden_globals(tmp_path: Path) -> None:
    # builtins.eval through protocol 2's GLOBAL opcode, hand-written
    payload = b"\x80\x02cbuiltins\neval\nX\x0b\x00\x00\x001+1 and 0 q\x00\x85q\x01Rq\x02."
    (tmp_path / "data_batch_1").write_bytes(payload)
    with pytest.raises(DataError, match=r"forbidden global 'builtins\.eval'"):
        load_path(tmp_path)


def test_truncated_files(tmp_path: Path) -> None:
    written = _python_dir(tmp_path / "py", {"data_batch_1": 20})
    _binary_dir(tmp_path / "bin", written)
    cut = tmp_path / "bin" / "data_batch_1.bin"
    cut.write_bytes(cut.read_bytes()[:-100])
    with pytest.raises(DataError, match=r"data_batch_1\.bin: truncated"):
        load_path(tmp_path / "bin")
    pkl = tmp_path / "py" / "data_batch_1"
    pkl.write_bytes(pkl.read_bytes()[:5000])
    with pytest.raises(DataError, match=r"data_batch_1: not a readable pickle"):
        load_path(tmp_path / "py")


def test_bad_contents(tmp_path: Path) -> None:
    data, labels = _batch(20, seed=0)
    labels[6] = 10
    _dump(tmp_path / "data_batch_1", {b"data": data, b"labels": labels})
    with pytest.raises(DataError, match=r"data_batch_1: labels row 6: label 10 is out of range"):
        load_path(tmp_path)
    _dump(tmp_path / "data_batch_1", {b"data": data[:, :100], b"labels": labels})
    with pytest.raises(DataError, match=r"'data' must be an N x 3072 uint8 array"):
        load_path(tmp_path)
    _dump(tmp_path / "data_batch_1", {b"pixels": data})
    with pytest.raises(DataError, match=r"missing 'data' or 'labels' \(keys: pixels\)"):
        load_path(tmp_path)
    (tmp_path / "data_batch_1").unlink()
    _dump(tmp_path / "test_batch", {b"data": data, b"labels": [0] * 20})
    with pytest.raises(DataError, match="no CIFAR-10 data batches"):
        load_path(tmp_path)
    bad = tmp_path / "bin"
    bad.mkdir()
    (bad / "data_batch_1.bin").write_bytes(bytes([12]) + bytes(3072))
    with pytest.raises(DataError, match=r"data_batch_1\.bin: labels row 0: label 12 is out of range"):
        load_path(bad)
