"""Predict with a saved model on files: an image folder, one image, an ``.npz`` or a CSV.

Inputs are read as the model expects them (images to [0, 1] with the model's
channel count; the model resizes and normalizes them itself), and each row of the
result is (input, class, probability).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from warmstart.backbones.checkpoint import load_checkpoint
from warmstart.engine.evaluate import predict_proba
from warmstart.errors import DataError, IncompatibleError
from warmstart.tasks.loaders import IMAGE_EXTENSIONS, decode_image, image_files, probe_image


def _read_image(path: Path, chans: int, size: tuple[int, int] | None) -> torch.Tensor:
    """One image as float C×H×W in [0, 1], with the loaders' decoding (mode conversion, bilinear resize)."""
    hw = size if size is not None else probe_image(path)[:2]
    return torch.from_numpy(decode_image(path, chans, (int(hw[0]), int(hw[1])))).float() / 255.0


def load_inputs(path: Path, modality: str, chans: int, size: tuple[int, int] | None) -> tuple[Any, list[str]]:
    """Read inputs for prediction; return (inputs, names)."""
    if not path.exists():
        raise DataError(f"input {path} does not exist")
    if path.is_dir() or path.suffix.lower() in IMAGE_EXTENSIONS:
        if modality != "image":
            raise IncompatibleError(f"input {path} holds images but the model takes {modality} data")
        files = image_files(path) if path.is_dir() else [path]
        if not files:
            raise DataError(f"image folder {path} contains no images")
        return torch.stack([_read_image(f, chans, size) for f in files]), [str(f) for f in files]
    if path.suffix.lower() == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                if "X" not in z:
                    raise DataError(f"{path}: no array named X (found {sorted(z.files)})")
                x = z["X"]
        except (ValueError, OSError) as exc:
            raise DataError(f"{path}: unreadable .npz ({exc})") from None
        return _array_inputs(x, path, modality, chans), [str(i) for i in range(len(x))]
    if path.suffix.lower() == ".csv":
        import csv

        try:
            with open(path, newline="", encoding="utf-8") as fh:
                rows = list(csv.reader(fh))
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise DataError(f"{path}: unreadable CSV ({exc})") from None
        if len(rows) < 2:
            raise DataError(f"{path}: CSV has no data rows")
        header = rows[0]
        keep = [i for i, c in enumerate(header) if c.strip().lower() not in ("label", "y", "target")]
        values = np.zeros((len(rows) - 1, len(keep)), dtype=np.float32)
        for r, row in enumerate(rows[1:]):
            for j, i in enumerate(keep):
                try:
                    values[r, j] = float(row[i])
                except (ValueError, IndexError):
                    raise DataError(f"{path}: row {r + 1}, column {header[i]!r} is not a number") from None
        return _array_inputs(values, path, modality, chans), [str(i) for i in range(len(values))]
    raise DataError(f"input {path}: unsupported file type; use an image folder, an image, .npz or .csv")


def _array_inputs(x: np.ndarray, path: Path, modality: str, chans: int) -> torch.Tensor:
    if modality == "image":
        if x.ndim == 3:
            x = x[:, None]
        elif x.ndim == 4 and x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
            x = x.transpose(0, 3, 1, 2)
        if x.ndim != 4 or x.shape[1] != chans:
            raise IncompatibleError(f"{path}: inputs of shape {tuple(x.shape)} do not fit a model taking "
                                    f"{chans}-channel images (N x {chans} x H x W)")
        t = torch.from_numpy(np.ascontiguousarray(x)).float()
        return t / 255.0 if x.dtype == np.uint8 else t
    if x.ndim != 2 or x.shape[1] != chans:
        raise IncompatibleError(f"{path}: inputs of shape {tuple(x.shape)} do not fit a model taking {chans} features")
    t = torch.from_numpy(np.ascontiguousarray(x)).float()
    if not torch.isfinite(t).all():
        row = int(torch.nonzero(~torch.isfinite(t).all(1)).flatten()[0])
        raise DataError(f"{path}: row {row} contains NaN or inf")
    return t


def predict_files(model_dir: str | Path, inputs: str | Path) -> list[dict[str, Any]]:
    """Predict every input; return rows of input name, class and probability."""
    ckpt = load_checkpoint(model_dir)
    model = ckpt.model
    if model.head is None or not ckpt.classes:
        raise IncompatibleError(f"model {model_dir} has no classifier head; fine-tune it on a task first")
    spec = model.input_spec
    x, names = load_inputs(Path(inputs), spec.modality, model.backbone.spec.in_chans, spec.input_size)
    probs = predict_proba(model, x)
    conf, pred = probs.max(1)
    return [{"input": n, "class": ckpt.classes[int(p)], "probability": float(c)}
            for n, p, c in zip(names, pred, conf, strict=True)]
