"""Predict with a saved model on files: an image folder, one image, an ``.npz`` or a CSV.

The model is a checkpoint folder or an ONNX file written by ``export_model``.
Image files are decoded by the loaders (``decode_image``: mode, bit depth and
channel conversion) at their own size, then scaled, resized and normalized by the
same tensor code the exported graphs contain (``_image_prep``), so ``predict`` on
a checkpoint and onnxruntime on its export give the same probabilities. Arrays
from ``.npz``/CSV go to the model as they are (images in [0, 1] or uint8, with the
model's channel count; the model resizes and normalizes them itself). Each row of
the result is (input, class, probability).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from warmstart.backbones.checkpoint import load_checkpoint
from warmstart.engine.evaluate import predict_proba
from warmstart.errors import CheckpointError, DataError, IncompatibleError, WarmstartError
from warmstart.export._image_prep import CONVERTIBLE_CHANNELS, prepare_images
from warmstart.export._metadata import read_onnx_metadata
from warmstart.tasks.loaders import IMAGE_EXTENSIONS, decode_image, image_files, probe_image


def read_raw_image(path: Path, channels: int) -> torch.Tensor:
    """One image file as uint8 1×H×W×``channels`` at its own size, decoded by the loaders.

    Raises:
        DataError: the file is corrupt (names it).
        IncompatibleError: the model takes neither 1 nor 3 channels, so image files do not fit it.
    """
    if channels not in CONVERTIBLE_CHANNELS:
        raise IncompatibleError(f"the model takes {channels}-channel images; image files decode to 1 or 3 "
                                "channels (give an .npz instead)")
    h, w, _ = probe_image(path)
    return torch.from_numpy(decode_image(path, channels, (h, w))).permute(1, 2, 0)[None]


def _image_file_list(path: Path, modality: str) -> list[Path] | None:
    """The image files ``path`` names (a folder or one image), or None when it is no image input."""
    if not path.exists():
        raise DataError(f"input {path} does not exist")
    if not (path.is_dir() or path.suffix.lower() in IMAGE_EXTENSIONS):
        return None
    if modality != "image":
        raise IncompatibleError(f"input {path} holds images but the model takes {modality} data")
    files = image_files(path) if path.is_dir() else [path]
    if not files:
        raise DataError(f"image folder {path} contains no images")
    return files


def load_texts(path: Path, text_column: str | None = None) -> list[str]:
    """Texts to classify: the text column of a CSV (default ``text``) or the lines of a ``.txt``.

    Raises:
        DataError: missing file, another file type, no such column (lists the columns), an
            empty text (names the line), a non-UTF-8 byte (names its offset and line).
    """
    from warmstart.tasks.loaders._csv import _rows
    from warmstart.tasks.loaders._text import DEFAULT_TEXT_COLUMN, text_column_index, text_lines

    if not path.is_file():
        raise DataError(f"input {path} does not exist" if not path.exists() else
                        f"input {path}: a text model takes a .csv with a text column or a .txt file")
    suffix = path.suffix.lower()
    if suffix == ".txt":
        return text_lines(path)
    if suffix not in (".csv", ".tsv"):
        raise DataError(f"input {path}: a text model takes a .csv with a text column or a .txt file "
                        "(one text per line)")
    header, rows = _rows(path, None)
    ti = text_column_index(path, header, text_column or DEFAULT_TEXT_COLUMN)
    for line, cells in rows:
        if cells[ti] == "":
            raise DataError(f"{path}, line {line}: text column {header[ti]!r} is empty")
    return [cells[ti] for _, cells in rows]


def load_inputs(path: Path, modality: str, chans: int, size: tuple[int, int] | None) -> tuple[Any, list[str]]:
    """Read inputs for prediction; return (inputs, names).

    Image files become a float N×C×H×W tensor prepared as the exported graph prepares
    raw images (a list of 1×C×H×W tensors when the model has no input size and the
    images differ in size); arrays are returned as ``_array_inputs`` reads them.
    """
    files = _image_file_list(path, modality)
    if files is not None:
        images = [prepare_images(read_raw_image(f, chans), chans, size) for f in files]
        same = all(im.shape == images[0].shape for im in images)
        return (torch.cat(images) if same else images), [str(f) for f in files]
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


def predict_files(model_dir: str | Path, inputs: str | Path, *, text_column: str | None = None
                  ) -> list[dict[str, Any]]:
    """Predict every input; return rows of input name, class and probability.

    Args:
        model_dir: A checkpoint folder, or an ``.onnx`` file written by ``export_model`` (run
            with onnxruntime; its class names and input contract come from the file's metadata).
        inputs: An image folder, one image, an ``.npz`` (array ``X``) or a CSV; for a text model,
            a CSV with a text column or a ``.txt`` file (one text per line; the input name of a
            row is the text itself). A tabular model's rows are raw feature values (the label
            column, if any, dropped), standardized as the model's table was.
        text_column: The text column of a CSV for a text model (default ``text``).

    Raises:
        DataError: missing, empty or unreadable inputs.
        IncompatibleError: inputs that do not fit the model, or a model without a head.
        CheckpointError: not a warmstart checkpoint or export.
    """
    if Path(model_dir).suffix.lower() == ".onnx" and Path(model_dir).is_file():
        return _predict_onnx(Path(model_dir), Path(inputs), text_column)
    ckpt = load_checkpoint(model_dir)
    model = ckpt.model
    if model.head is None or not ckpt.classes:
        raise IncompatibleError(f"model {model_dir} has no classifier head; fine-tune it on a task first")
    spec = model.input_spec
    if spec.modality == "text":
        texts = load_texts(Path(inputs), text_column)
        return _rows_of(texts, predict_proba(model, texts, batch_size=64), ckpt.classes)
    x, names = load_inputs(Path(inputs), spec.modality, model.input_channels, spec.input_size)
    if spec.modality == "tabular" and spec.scaler is not None:  # raw rows, as the exported graph takes them
        x = spec.scaler.standardize(x)
    probs = torch.cat([predict_proba(model, im) for im in x]) if isinstance(x, list) else predict_proba(model, x)
    conf, pred = probs.max(1)
    return [{"input": n, "class": ckpt.classes[int(p)], "probability": float(c)}
            for n, p, c in zip(names, pred, conf, strict=True)]


def _rows_of(names: list[str], probs: Any, classes: list[str]) -> list[dict[str, Any]]:
    conf, pred = torch.as_tensor(probs).max(1)
    return [{"input": n, "class": classes[int(p)], "probability": float(c)}
            for n, p, c in zip(names, pred, conf, strict=True)]


def _predict_onnx(model_file: Path, inputs: Path, text_column: str | None = None) -> list[dict[str, Any]]:
    """``predict_files`` for an exported ONNX graph, fed raw inputs as its stored contract says."""
    try:
        import onnxruntime as ort
    except ImportError:  # pragma: no cover - in the export extra
        raise WarmstartError('predicting with an ONNX file needs the export extra: pip install "warmstart[export]"'
                             ) from None
    try:
        sess = ort.InferenceSession(str(model_file), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own error types
        raise CheckpointError(f"{model_file}: unreadable ONNX file ({exc})") from None
    meta = read_onnx_metadata(sess, model_file)
    classes = [str(c) for c in meta.get("classes") or []]
    if not classes:
        raise IncompatibleError(f"{model_file}: the export names no classes")
    modality, chans = str(meta.get("modality", "image")), int(meta["model"]["channels"])
    if modality == "text":
        from warmstart.export._text_graph import run_text_onnx

        texts = load_texts(inputs, text_column)
        return _rows_of(texts, run_text_onnx(sess, meta, texts, model_file), classes)
    files = _image_file_list(inputs, modality)
    if files is not None:
        probs = np.concatenate([sess.run(None, {"input": read_raw_image(f, chans).numpy()})[0] for f in files])
        names = [str(f) for f in files]
    elif modality == "image":
        raise IncompatibleError(f"input {inputs}: an exported image model takes image files (a folder or one image)")
    else:
        x, names = load_inputs(inputs, modality, chans, None)
        probs = sess.run(None, {"input": x.numpy().astype(np.float32)})[0]
    pred, conf = probs.argmax(1), probs.max(1)
    return [{"input": n, "class": classes[int(p)], "probability": float(c)}
            for n, p, c in zip(names, pred, conf, strict=True)]
