"""Bad input through the CLI: each case gives exit code 2, one line on stderr starting ``error:``
naming the culprit, no traceback, and nothing half-written on disk.

docs/bad-input.md lists these cases with their messages; ``python tests/cli/test_cli_bad_input.py``
prints that table from the live messages.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# --------------------------------------------------------------------------- data on disk


def npz(path: Path, **arrays: object) -> Path:
    np.savez(path, **arrays)  # type: ignore[arg-type]
    return path


def tabular(n: int = 30, d: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, d)).astype(np.float32), np.arange(n) % 3


def nan_npz(tmp: Path) -> Path:
    x, y = tabular()
    x[7, 2] = np.nan
    return npz(tmp / "nan.npz", X=x, y=y)


def inf_npz(tmp: Path) -> Path:
    x, y = tabular()
    x[4, 0] = np.inf
    return npz(tmp / "inf.npz", X=x, y=y)


def label_out_of_range_npz(tmp: Path) -> Path:
    x, y = tabular()
    y[5] = 3  # classes a, b, c -> labels 0..2
    return npz(tmp / "labels.npz", X=x, y=y, classes=np.array(["a", "b", "c"]))


def negative_label_npz(tmp: Path) -> Path:
    x, y = tabular()
    y[9] = -1
    return npz(tmp / "negative.npz", X=x, y=y)


def empty_class_npz(tmp: Path) -> Path:
    x, y = tabular()
    y = y % 2  # class "c" never occurs
    return npz(tmp / "empty_class.npz", X=x, y=y, classes=np.array(["a", "b", "c"]))


def image_folder(tmp: Path, corrupt: bool = False, empty_class: bool = False, n: int = 4) -> Path:
    root = tmp / "images"
    rng = np.random.default_rng(0)
    for c in ("cat", "dog"):
        (root / c).mkdir(parents=True)
        if empty_class and c == "dog":
            continue
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (12, 12), dtype=np.uint8)).save(root / c / f"{i}.png")
    if corrupt:
        good = (root / "dog" / "2.png").read_bytes()
        (root / "dog" / "2.png").write_bytes(good[: len(good) // 3])  # truncated PNG
        (root / "cat" / "9.png").write_bytes(b"this is not an image")
    return root


def empty_folder(tmp: Path) -> Path:
    (tmp / "empty").mkdir()
    return tmp / "empty"


def folder_without_classes(tmp: Path) -> Path:
    root = tmp / "flat"
    root.mkdir()
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(root / "a.png")
    return root


# --------------------------------------------------------------------------- checkpoints


def copy_source(src: Path, tmp: Path) -> Path:
    dst = tmp / "ckpt"
    shutil.copytree(src, dst)
    return dst


def truncated_checkpoint(src: Path, tmp: Path) -> Path:
    ckpt = copy_source(src, tmp)
    data = (ckpt / "model.safetensors").read_bytes()
    (ckpt / "model.safetensors").write_bytes(data[: len(data) // 2])
    return ckpt


def tampered_checkpoint(src: Path, tmp: Path) -> Path:
    ckpt = copy_source(src, tmp)
    data = bytearray((ckpt / "model.safetensors").read_bytes())
    data[-10] ^= 0xFF  # one weight changed, size unchanged
    (ckpt / "model.safetensors").write_bytes(bytes(data))
    return ckpt


def misfit_checkpoint(src: Path, tmp: Path) -> Path:
    """Weights intact (hash matches) but meta.json names a narrower smallcnn."""
    ckpt = copy_source(src, tmp)
    meta = json.loads((ckpt / "meta.json").read_text())
    meta["backbone"]["kwargs"]["widths"] = [8, 16, 32]
    (ckpt / "meta.json").write_text(json.dumps(meta))
    return ckpt


def tampered_meta_checkpoint(src: Path, tmp: Path) -> Path:
    ckpt = copy_source(src, tmp)
    (ckpt / "meta.json").write_text('{"format": "warmstart-checkpoint", ')
    return ckpt


def not_a_checkpoint(src: Path, tmp: Path) -> Path:
    (tmp / "nothing").mkdir()
    return tmp / "nothing"


# --------------------------------------------------------------------------- cases

DATA_CASES: dict[str, tuple[Callable[[Path], Path], tuple[str, ...]]] = {
    "NaN in an npz": (nan_npz, ("nan.npz: X row 7 contains NaN or inf",)),
    "inf in an npz": (inf_npz, ("inf.npz: X row 4 contains NaN or inf",)),
    "label out of range": (label_out_of_range_npz, ("labels.npz: y row 5: label 3 is out of range for 3 classes",)),
    "negative label": (negative_label_npz, ("negative.npz: y row 9: label -1 is negative",)),
    "class with no examples (npz)": (empty_class_npz, ("empty_class", "'c' (label 2) has no examples")),
    "empty image folder": (empty_folder, ("empty: folder is empty",)),
    "image folder without class subfolders": (folder_without_classes, ("flat: no class subfolders",)),
    "class folder with no images": (lambda t: image_folder(t, empty_class=True),
                                    ("dog", "class folder 'dog' has no images")),
    "corrupt image file": (lambda t: image_folder(t, corrupt=True), (".png: corrupt or unreadable image",)),
    "missing data path": (lambda t: t / "nowhere.npz", ("unknown task", "nowhere.npz")),
}

CHECKPOINT_CASES: dict[str, tuple[Callable[[Path, Path], Path], tuple[str, ...]]] = {
    "truncated checkpoint": (truncated_checkpoint, ("model.safetensors: sha256 mismatch",
                                                    "truncated or was modified")),
    "tampered checkpoint": (tampered_checkpoint, ("model.safetensors: sha256 mismatch",)),
    "weights do not fit the named backbone": (misfit_checkpoint, ("has shape", "but backbone 'smallcnn' needs")),
    "corrupt meta.json": (tampered_meta_checkpoint, ("meta.json: unreadable JSON",)),
    "folder that is not a checkpoint": (not_a_checkpoint, ("missing meta.json or model.safetensors",)),
}

# (extra transfer arguments, expected fragments)
OPTION_CASES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "unknown task": (("--task", "nosuch"), ("unknown task 'nosuch'; valid tasks:", "mnist5k", "digits")),
    "unknown strategy": (("--task", "digits", "--strategy", "nosuch"),
                         ("unknown strategy 'nosuch'; valid strategies:", "finetune", "scratch")),
    "negative learning rate": (("--task", "digits", "--lr", "-0.1"),
                               ("lr=-0.1 is out of range; valid range [1e-07, 10.0]",)),
    "zero epochs": (("--task", "digits", "--epochs", "0"), ("epochs=0 is out of range; valid range [1",)),
    "unknown strategy option": (("--task", "digits", "--nosuch", "1"),
                                ("strategy 'finetune' has no option 'nosuch'; valid options:", "lr")),
    "option without value": (("--task", "digits", "--lr"), ("option --lr needs a value",)),
    "bad choice": (("--task", "digits", "--augment", "heavy"), ("augment='heavy' is not valid; choose one of",)),
    "not a number": (("--task", "digits", "--lr", "fast"), ("lr='fast' is not a valid float",)),
    "shots larger than a class": (("--task", "digits", "--shots", "500"), ("fewer than shots=500",)),
    "unknown device": (("--task", "digits", "--device", "tpu"), ("unknown device 'tpu'",)),
}


def test_every_foundation_case_is_covered() -> None:
    required = {"NaN in an npz", "label out of range", "class with no examples (npz)", "empty image folder",
                "corrupt image file", "truncated checkpoint", "tampered checkpoint",
                "weights do not fit the named backbone", "unknown task", "unknown strategy",
                "negative learning rate", "unknown strategy option"}
    assert required <= set(DATA_CASES) | set(CHECKPOINT_CASES) | set(OPTION_CASES)


@pytest.mark.parametrize("case", list(DATA_CASES))
def test_bad_data_in_pretrain(case: str, tmp_path: Path, run_cli, user_error) -> None:
    make, fragments = DATA_CASES[case]
    data = make(tmp_path)
    out = tmp_path / "out"
    run = run_cli("pretrain", "--task", str(data), "-o", str(out), "--epochs", "1", "--device", "cpu")
    user_error(run, *fragments)
    assert not out.exists()


def test_bad_data_in_transfer(pretrained_source: Path, tmp_path: Path, run_cli, user_error) -> None:
    out = tmp_path / "out"
    run = run_cli("transfer", "--source", str(pretrained_source), "--task", str(nan_npz(tmp_path)), "-o", str(out))
    user_error(run, "nan.npz: X row 7 contains NaN or inf")
    assert not out.exists()


@pytest.mark.parametrize("case", list(CHECKPOINT_CASES))
def test_bad_checkpoint_in_transfer(case: str, pretrained_source: Path, tmp_path: Path, run_cli, user_error) -> None:
    make, fragments = CHECKPOINT_CASES[case]
    ckpt = make(pretrained_source, tmp_path)
    out = tmp_path / "out"
    run = run_cli("transfer", "--source", str(ckpt), "--task", "digits", "--shots", "2", "--epochs", "1",
              "--device", "cpu", "-o", str(out))
    line = user_error(run, *fragments)
    assert str(ckpt) in line
    assert not out.exists()


@pytest.mark.parametrize("case", list(OPTION_CASES))
def test_bad_options_in_transfer(case: str, pretrained_source: Path, tmp_path: Path, run_cli, user_error) -> None:
    args, fragments = OPTION_CASES[case]
    out = tmp_path / "out"
    run = run_cli("transfer", "--source", str(pretrained_source), *args, "-o", str(out))
    user_error(run, *fragments)
    assert not out.exists()


def test_unknown_names_in_pretrain(tiny_task: str, tmp_path: Path, run_cli, user_error) -> None:
    out = tmp_path / "out"
    user_error(run_cli("pretrain", "--task", tiny_task, "--backbone", "nosuch", "-o", str(out)),
                      "unknown backbone 'nosuch'", "smallcnn", "resnet", "mlp")
    user_error(run_cli("pretrain", "--task", "nosuch", "-o", str(out)), "unknown task 'nosuch'", "mnist5k")
    user_error(run_cli("pretrain", "--task", tiny_task, "--method", "magic", "-o", str(out)),
                      "unknown pretraining method 'magic'")
    user_error(run_cli("pretrain", "--task", tiny_task, "--lr", "-1", "-o", str(out)), "lr must be > 0")
    assert not out.exists()


def test_pretrain_refuses_a_folder_that_is_not_a_checkpoint(tiny_task: str, tmp_path: Path, run_cli,
                                                            user_error) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    user_error(run_cli("pretrain", "--task", tiny_task, "-o", str(out), "--epochs", "1", "--device", "cpu"),
                      "not empty and not a checkpoint; refusing to overwrite it")
    assert [p.name for p in out.iterdir()] == ["thesis.tex"]


@pytest.mark.parametrize("command", [
    ("pretrain", "-o", "{tmp}/out"),
    ("transfer", "--strategy", "scratch", "--min-steps", "2"),
])
def test_skip_bad_leaves_out_unreadable_images_and_counts_them(command: tuple[str, ...], tmp_path: Path,
                                                               run_cli) -> None:
    data = image_folder(tmp_path, corrupt=True, n=12)  # cat/9.png is not an image, dog/2.png is truncated
    args = [a.replace("{tmp}", str(tmp_path)) for a in command]
    run = run_cli(*args, "--task", str(data), "--epochs", "1", "--device", "cpu", "--skip-bad", "--json")
    assert run.code == 0, run.stderr
    line = run.stderr.strip().splitlines()[0]
    assert line.startswith("skipped 2 unreadable files: ") and "9.png" in line and "2.png" in line, line
    assert run.json()["task"]  # the JSON on stdout is intact
    if command[0] == "pretrain":
        assert (tmp_path / "out" / "meta.json").is_file()


def _markdown() -> str:  # pragma: no cover - documentation helper
    """Run every case and print the docs/bad-input.md table from the live messages."""
    import os
    import sys
    import tempfile

    from warmstart.engine import TrainConfig
    from warmstart.pretraining import pretrain_supervised
    from warmstart.tasks import get_task

    os.environ["WARMSTART_NO_PROGRESS"] = "1"
    sys.path.insert(0, str(Path(__file__).parent))
    from conftest import cli  # run as a script: no fixtures
    rows = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        src = tmp / "src"
        small = get_task("mnist5k")
        small = small.replace(x_train=small.x_train[::20], y_train=small.y_train[::20])
        pretrain_supervised(small, src, config=TrainConfig(epochs=1, progress=False), widths=(16, 32, 64))

        def clean(line: str) -> str:
            return line.replace(str(tmp), "<tmp>").replace("|", "\\|")

        for case, (make, _) in DATA_CASES.items():
            sub = tmp / case.replace(" ", "_")
            sub.mkdir()
            run = cli("pretrain", "--task", str(make(sub)), "-o", str(sub / "out"))
            rows.append((case, f"`warmstart pretrain --task {clean(str(make.__name__))}…`", clean(run.stderr.strip())))
        for case, (mk, _) in CHECKPOINT_CASES.items():
            sub = tmp / case.replace(" ", "_")
            sub.mkdir()
            run = cli("transfer", "--source", str(mk(src, sub)), "--task", "digits", "--shots", "2")
            rows.append((case, "`warmstart transfer --source CKPT --task digits`", clean(run.stderr.strip())))
        for case, (args, _) in OPTION_CASES.items():
            run = cli("transfer", "--source", str(src), *args)
            rows.append((case, f"`warmstart transfer --source CKPT {' '.join(args)}`", clean(run.stderr.strip())))
    out = ["| case | command | message (stderr, exit code 2) |", "|---|---|---|"]
    out += [f"| {c} | {cmd} | `{msg}` |" for c, cmd, msg in rows]
    return "\n".join(out)


if __name__ == "__main__":  # pragma: no cover
    print(_markdown())
