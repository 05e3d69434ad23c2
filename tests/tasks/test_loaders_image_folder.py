"""Image-folder loader: layout, channels, resizing, splits, streaming and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from warmstart.errors import ConfigError, DataError
from warmstart.tasks import load_task, n_items
from warmstart.tasks._splits import stratified_three_way
from warmstart.tasks.loaders import ImageFileDataset, load_path


def _write(folder: Path, name: str, arr: np.ndarray) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    Image.fromarray(arr).save(path)
    return path


def _folder(root: Path, per_class: int = 10, shape: tuple[int, ...] = (8, 8, 3),
            classes: tuple[str, ...] = ("cat", "dog"), seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    written = []
    for c in classes:
        for i in range(per_class):
            arr = rng.integers(0, 256, shape, dtype=np.uint8)
            _write(root / c, f"{i}.png", arr)
            written.append(arr)
    return written


def _all_images(task) -> torch.Tensor:
    return torch.cat([task.x_train, task.x_val, task.x_test])


def test_rgb_folder_values_shapes_and_classes(tmp_path: Path) -> None:
    written = _folder(tmp_path, per_class=10)
    (tmp_path / "notes.txt").write_text("ignored")  # stray files are ignored
    task = load_task(tmp_path)
    assert task.classes == ["cat", "dog"] and task.modality == "image"
    assert task.input_shape == (3, 8, 8)
    x = _all_images(task)
    assert x.dtype == torch.float32 and x.shape == (20, 3, 8, 8)
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    # every written PNG comes back exactly, as C×H×W / 255, with its class label
    got = {(torch.round(xi * 255).to(torch.uint8).numpy().tobytes()) for xi in x}
    want = {a.transpose(2, 0, 1).tobytes() for a in written}
    assert got == want
    y = torch.cat([task.y_train, task.y_val, task.y_test])
    assert torch.bincount(y).tolist() == [10, 10]
    assert task.provenance["streaming"] is False and task.x_unlabeled is None


def test_split_is_stratified_70_10_20_and_seeded(tmp_path: Path) -> None:
    _folder(tmp_path, per_class=20, shape=(4, 4))
    a, b = load_path(tmp_path), load_path(tmp_path)
    tr, va, te = stratified_three_way(np.repeat([0, 1], 20))
    assert (len(a.y_train), len(a.y_val), len(a.y_test)) == (len(tr), len(va), len(te))
    assert len(a.y_test) == 8 and len(a.y_train) + len(a.y_val) == 32
    assert torch.bincount(a.y_test).tolist() == [4, 4]
    assert torch.equal(a.x_train, b.x_train)
    c = load_path(tmp_path, seed=5)
    assert not torch.equal(a.x_test, c.x_test)


def test_grey_images_have_one_channel(tmp_path: Path) -> None:
    _folder(tmp_path, per_class=5, shape=(6, 7))
    task = load_path(tmp_path)
    assert task.input_shape == (1, 6, 7) and task.x_train.shape[1:] == (1, 6, 7)


def test_mixed_modes_follow_the_majority(tmp_path: Path) -> None:
    _folder(tmp_path, per_class=5, shape=(6, 6))  # 10 grey
    _write(tmp_path / "cat", "colour.png", np.zeros((6, 6, 3), np.uint8))
    assert load_path(tmp_path).input_shape == (1, 6, 6)
    rgb = tmp_path / "rgb"
    _folder(rgb, per_class=5, shape=(6, 6, 3))
    _write(rgb / "dog", "grey.png", np.full((6, 6), 200, np.uint8))
    task = load_path(rgb)
    assert task.input_shape == (3, 6, 6) and task.provenance["converted"] == 1
    x = _all_images(task)
    grey = x[(x == 200 / 255).all(dim=(1, 2, 3))]
    assert len(grey) == 1  # the grey image became R = G = B


def test_sizes_resized_to_most_common_or_option(tmp_path: Path) -> None:
    _folder(tmp_path, per_class=5, shape=(8, 8, 3))
    _write(tmp_path / "dog", "big.png", np.zeros((16, 12, 3), np.uint8))
    _write(tmp_path / "cat", "photo.jpg", np.full((8, 8, 3), 128, np.uint8))  # JPEG is read too
    task = load_path(tmp_path)
    assert task.input_shape == (3, 8, 8) and task.provenance["resized"] == 1
    assert n_items(task.x_train) + n_items(task.x_val) + n_items(task.x_test) == 12
    assert load_path(tmp_path, image_size=(4, 6)).x_train.shape[1:] == (3, 4, 6)
    assert load_path(tmp_path, image_size=5).input_shape == (3, 5, 5)


def test_unlabeled_subfolder_becomes_pool(tmp_path: Path) -> None:
    _folder(tmp_path, per_class=5, shape=(6, 6))
    for i in range(3):
        _write(tmp_path / "unlabeled", f"u{i}.png", np.full((6, 6), i, np.uint8))
    task = load_task(tmp_path)
    assert task.classes == ["cat", "dog"]
    assert task.x_unlabeled.shape == (3, 1, 6, 6)
    assert n_items(task.x_train) + n_items(task.x_val) + n_items(task.x_test) == 10


def test_streaming_when_over_memory_budget(tmp_path: Path) -> None:
    _folder(tmp_path, per_class=10, shape=(8, 8, 3))
    _write(tmp_path / "unlabeled", "u.png", np.zeros((8, 8, 3), np.uint8))
    mem = load_task(tmp_path)
    task = load_task(tmp_path, memory_budget_mb=0.001)
    assert task.provenance["streaming"] is True
    assert isinstance(task.x_train, ImageFileDataset) and isinstance(task.x_unlabeled, ImageFileDataset)
    assert n_items(task.x_train) == len(task.y_train) == len(mem.y_train)
    xb, yb = next(iter(DataLoader(task.x_train, batch_size=4, shuffle=False)))
    assert xb.shape == (4, 3, 8, 8) and xb.dtype == torch.float32
    assert float(xb.min()) >= 0.0 and float(xb.max()) <= 1.0
    assert torch.equal(yb, task.y_train[:4])
    assert torch.allclose(xb, mem.x_train[:4])  # same split, same pixels as in memory
    few = task.few_shot(2, seed=0)  # Task.take works on the dataset
    assert n_items(few.x_train) == 4 and few.x_train[0][0].shape == (3, 8, 8)


def test_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="folder is empty"):
        load_path(tmp_path)


def test_no_class_subfolders(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "a.png")
    with pytest.raises(DataError, match=r"no class subfolders \(found a.png\)"):
        load_path(tmp_path)


def test_class_folder_without_images(tmp_path: Path) -> None:
    _folder(tmp_path, per_class=3, shape=(4, 4))
    (tmp_path / "emu").mkdir()
    (tmp_path / "emu" / "readme.txt").write_text("no images here")
    with pytest.raises(DataError, match="class folder 'emu' has no images"):
        load_path(tmp_path)


def test_single_class(tmp_path: Path) -> None:
    _folder(tmp_path, per_class=3, shape=(4, 4), classes=("only",))
    with pytest.raises(DataError, match="only one class subfolder"):
        load_path(tmp_path)


def test_corrupt_image_is_named(tmp_path: Path) -> None:
    _folder(tmp_path, per_class=3, shape=(4, 4))
    (tmp_path / "dog" / "broken.png").write_bytes(b"this is not a png")
    with pytest.raises(DataError, match=r"broken\.png: corrupt or unreadable image"):
        load_path(tmp_path)


def test_truncated_image_is_named(tmp_path: Path) -> None:
    _folder(tmp_path, per_class=3, shape=(4, 4))
    good = _write(tmp_path / "cat", "cut.png", np.random.default_rng(1).integers(
        0, 256, (64, 64, 3), dtype=np.uint8))
    data = good.read_bytes()
    good.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"cut\.png: corrupt"):
        load_path(tmp_path)
    # streaming decodes every file once at load time too: the bad file is named before training
    with pytest.raises(DataError, match=r"cut\.png: corrupt"):
        load_path(tmp_path, memory_budget_mb=1e-6)


def _break_files(root: Path, n: int) -> list[str]:
    """Write ``n`` unreadable files (half not images, half truncated PNGs); their relative names."""
    names = []
    for i in range(n):
        path = root / ("cat" if i % 2 else "dog") / f"bad{i:02d}.png"
        if i % 2:
            path.write_bytes(b"not an image")
        else:
            Image.fromarray(np.random.default_rng(i).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(path)
            path.write_bytes(path.read_bytes()[:200])
        names.append(f"{path.parent.name}/{path.name}")
    return sorted(names)


@pytest.mark.parametrize("budget", [1024, 1e-6], ids=["memory", "streaming"])
def test_several_bad_files_listed_in_one_error(tmp_path: Path, budget: float) -> None:
    _folder(tmp_path, per_class=4, shape=(32, 32, 3))
    names = _break_files(tmp_path, 4)
    with pytest.raises(DataError) as info:
        load_path(tmp_path, memory_budget_mb=budget)
    msg = str(info.value)
    assert "\n" not in msg and "4 unreadable image file(s)" in msg and "--skip-bad" in msg
    assert all(f"{name}: corrupt or unreadable image" in msg for name in names)


def test_bad_file_list_is_capped(tmp_path: Path) -> None:
    _folder(tmp_path, per_class=2, shape=(4, 4))
    names = _break_files(tmp_path, 13)
    with pytest.raises(DataError) as info:
        load_path(tmp_path)
    msg = str(info.value)
    assert "13 unreadable image file(s)" in msg and msg.count("corrupt or unreadable image") == 10
    assert "and 3 more" in msg and names[9] in msg and names[10] not in msg


@pytest.mark.parametrize("budget", [1024, 1e-6], ids=["memory", "streaming"])
def test_skip_bad_leaves_them_out_and_records_them(tmp_path: Path, budget: float) -> None:
    _folder(tmp_path, per_class=6, shape=(32, 32, 3))
    names = _break_files(tmp_path, 5)
    task = load_task(tmp_path, skip_bad=True, memory_budget_mb=budget)
    assert task.provenance["streaming"] is (budget < 1)
    skipped = task.provenance["skipped_files"]
    assert sorted(str(Path(s).relative_to(tmp_path)) for s in skipped) == names
    assert n_items(task.x_train) + n_items(task.x_val) + n_items(task.x_test) == 12
    for split in (task.x_train, task.x_val, task.x_test):  # every kept file decodes
        for i in range(n_items(split)):
            split[i]
    with pytest.raises(DataError, match="5 unreadable"):  # without skip_bad the same folder fails
        load_task(tmp_path, memory_budget_mb=budget)


def test_skip_bad_without_bad_files_and_on_other_formats(tmp_path: Path) -> None:
    _folder(tmp_path / "img", per_class=3, shape=(4, 4))
    assert load_task(tmp_path / "img", skip_bad=True).provenance["skipped_files"] == []
    np.savez(tmp_path / "d.npz", X=np.random.default_rng(0).random((20, 3)), y=np.arange(20) % 2)
    assert load_task(tmp_path / "d.npz", skip_bad=True).provenance["skipped_files"] == []
    with pytest.raises(ConfigError, match="skip_bad must be a bool"):
        load_path(tmp_path / "img", skip_bad="yes")


def test_skip_bad_that_empties_a_class(tmp_path: Path) -> None:
    _folder(tmp_path, per_class=3, shape=(4, 4))
    (tmp_path / "emu").mkdir()
    (tmp_path / "emu" / "x.png").write_bytes(b"junk")
    with pytest.raises(DataError, match="'emu' have no readable images"):
        load_path(tmp_path, skip_bad=True)


def test_bad_options(tmp_path: Path) -> None:
    _folder(tmp_path, per_class=3, shape=(4, 4))
    with pytest.raises(ConfigError, match="image_size"):
        load_path(tmp_path, image_size=(0, 4))
    with pytest.raises(ConfigError, match="memory_budget_mb"):
        load_path(tmp_path, memory_budget_mb=-1)


def test_folder_too_small_for_a_test_split_is_one_clear_error(tmp_path: Path) -> None:
    """2 + 1 images: the 20 % test split would be empty (evaluation crashed with an IndexError before)."""
    import numpy as np
    import pytest
    from PIL import Image

    from warmstart.errors import DataError
    from warmstart.tasks import load_task

    for cls, n in (("cat", 2), ("dog", 1)):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(np.full((8, 8), 40 * i, np.uint8)).save(tmp_path / "imgs" / cls / f"{i}.png")
    with pytest.raises(DataError, match="too few for a 70/10/20"):
        load_task(tmp_path / "imgs")
