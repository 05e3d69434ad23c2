"""``import_weights``: a model-zoo model (and a foreign weights file) as an ordinary checkpoint folder.

The folder is a plain warmstart checkpoint (``model.safetensors`` + ``meta.json``,
written atomically): loading it later needs neither the weights file nor the
network, and gives the same outputs as the imported model. ``meta.json`` records
where the weights came from under ``extra.imported`` (model, file, its sha256, the
layout it was read in), so importing the same file into the same folder again is a
no-op: the work is done once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from warmstart.backbones.checkpoint import META, read_meta, save_checkpoint, sha256_file
from warmstart.backbones.zoo import zoo_model
from warmstart.errors import CheckpointError, ConfigError


def import_record(file: str | Path | None, model: str, input_size: tuple[int, int] | None = None) -> dict[str, Any]:
    """What identifies one import: the model name, the file's sha256 (or None), the input size."""
    sha = sha256_file(Path(file).expanduser()) if file is not None and Path(file).expanduser().is_file() else None
    return {"model": model, "weights_sha256": sha,
            "input_size": list(input_size) if input_size is not None else None}


def import_weights(file: str | Path | None, model: str, out: str | Path, *,
                   input_size: tuple[int, int] | None = None, overwrite: bool = False) -> Path:
    """Turn ``model`` with the weights of ``file`` into a checkpoint folder at ``out``.

    Args:
        file: A weights file (``.safetensors``, ``.pth``, ``.bin``) in timm's, torchvision's
            or the EfficientNet-PyTorch layout; None for timm's own pretrained weights
            (``timm:NAME``) or an ``hf:`` encoder.
        model: ``timm:NAME`` or ``hf:NAME|FOLDER``.
        out: The checkpoint folder to write.
        input_size: Image size (H, W) instead of the model's pretrained default.
        overwrite: Replace an existing folder holding something else.

    Returns:
        ``out``. When it already holds this very import (same model, same file bytes, same
        size), it is returned untouched.

    Raises:
        ConfigError: ``out`` exists and holds something else (without ``overwrite``), or any
            error of :func:`~warmstart.backbones.zoo.zoo_model` (unreadable file, no layout
            fits, a pickle that is not a plain state dict, offline without a file...).
    """
    out = Path(out).expanduser()
    record = import_record(file, model, input_size)
    if out.exists():
        try:
            same = read_meta(out).get("extra", {}).get("imported", {}).get("record") == record
        except CheckpointError:
            same = False
        if same:
            return out
        if not overwrite:
            what = "another checkpoint" if (out / META).is_file() else "other files"
            raise ConfigError(f"{out} already exists and holds {what}; choose another folder or overwrite it")
    classifier, classes, info = zoo_model(model, weights=file, input_size=input_size)
    source_task = "imagenet-1k" if classes is not None and len(classes) == 1000 else None
    save_checkpoint(classifier, out, classes=classes, source_task=source_task,
                    extra={"imported": {**info, "record": record}})
    return out
