"""Checkpoints: a folder with ``model.safetensors`` and ``meta.json``.

Tensors go to safetensors, everything else (backbone spec, head, input
normalization, classes, source task, metrics, sha256 of the weights, package
version) to JSON. Loading verifies the hash and the architecture, and never
unpickles anything. Saving is atomic: the folder appears complete or not at all.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from warmstart._atomic import atomic_path
from warmstart._version import __version__
from warmstart.backbones._base import BackboneSpec
from warmstart.backbones.classifier import Classifier, HeadSpec, InputSpec
from warmstart.errors import CheckpointError, WarmstartError

WEIGHTS = "model.safetensors"
META = "meta.json"
FORMAT = "warmstart-checkpoint"
#: the newest format this version reads; a plain model is written as version 1, an ensemble
#: (:class:`~warmstart.backbones.ensemble.Ensemble`, its member count in ``ensemble``) as version 2
FORMAT_VERSION = 2


@dataclass
class Checkpoint:
    """A loaded checkpoint: the model and its metadata."""

    model: Classifier
    meta: dict[str, Any]
    path: Path

    @property
    def classes(self) -> list[str] | None:
        """Class names of the classifier head, or None for a feature-only checkpoint."""
        return self.meta.get("classes")

    @property
    def sha256(self) -> str:
        """Hash of the weights file (also identifies cached features)."""
        return str(self.meta["sha256"])


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def model_meta(model: Classifier) -> dict[str, Any]:
    """The architecture part of the metadata: enough to rebuild ``model`` (an ensemble: its member count too)."""
    from warmstart.backbones.ensemble import Ensemble

    return {
        **({"ensemble": model.size} if isinstance(model, Ensemble) else {}),
        "backbone": model.backbone.spec.to_json(),
        "depth": model.depth,
        "head": model.head_spec.to_json() if model.head is not None else None,
        "n_classes": model.n_classes if model.head is not None else 0,
        "input": model.input_spec.to_json(),
        "neck": model.neck_spec,
        "feature_dim": model.feature_dim,
    }


def save_checkpoint(model: Classifier, path: str | Path, *, classes: list[str] | None,
                    source_task: str | None = None, metrics: dict[str, Any] | None = None,
                    extra: dict[str, Any] | None = None) -> Path:
    """Save ``model`` atomically as a checkpoint folder at ``path``.

    Args:
        model: The classifier to save (moved to CPU for writing, not modified).
        path: Destination folder; replaced atomically if it exists.
        classes: Class names of the head (None for a head-less model).
        source_task: Name of the task the weights were trained on.
        metrics: Evaluation metrics to record.
        extra: Further JSON-serializable metadata (training config, architecture choices...).

    Returns:
        The checkpoint folder.
    """
    path = Path(path)
    architecture = model_meta(model)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        tmp.mkdir()
        save_file(state, str(tmp / WEIGHTS))
        meta = {
            "format": FORMAT,
            "format_version": 2 if "ensemble" in architecture else 1,
            "warmstart_version": __version__,
            "torch_version": torch.__version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            **architecture,
            "classes": list(classes) if classes is not None else None,
            "source_task": source_task,
            "metrics": metrics or {},
            "extra": extra or {},
            "sha256": sha256_file(tmp / WEIGHTS),
        }
        (tmp / META).write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8")
    return path


def read_meta(path: str | Path) -> dict[str, Any]:
    """Read and check a checkpoint's metadata without loading weights.

    Raises:
        CheckpointError: missing folder/files, unreadable JSON, or not a warmstart checkpoint.
    """
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"checkpoint {path}: not a folder (expected {WEIGHTS} and {META})")
    meta_file = path / META
    if not meta_file.is_file() or not (path / WEIGHTS).is_file():
        raise CheckpointError(f"checkpoint {path}: missing {META} or {WEIGHTS}; not a warmstart model")
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise CheckpointError(f"checkpoint {meta_file}: unreadable JSON ({reason})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {meta_file}: not a warmstart checkpoint")
    if int(meta.get("format_version", 0)) > FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {path}: format version {meta.get('format_version')} is newer than this "
            f"warmstart ({FORMAT_VERSION}); upgrade warmstart"
        )
    return meta


def build_model(meta: dict[str, Any]) -> Classifier:
    """Rebuild an untrained model from checkpoint metadata (an :class:`~warmstart.backbones.ensemble.Ensemble` of
    that many members where it names ``ensemble``)."""
    from warmstart.backbones.ensemble import Ensemble

    size = meta.get("ensemble")
    if size is None:
        return _build_one(meta)
    if not isinstance(size, int) or size < 2:
        raise CheckpointError(f"checkpoint metadata names an ensemble of {size!r} members (two or more)")
    return Ensemble([_build_one(meta) for _ in range(size)])


def _build_one(meta: dict[str, Any]) -> Classifier:
    """One plain classifier of the metadata's architecture."""
    from warmstart.backbones._registry import create_from_spec

    try:
        backbone = create_from_spec(BackboneSpec.from_json(meta["backbone"]))
        neck, neck_dim = None, None
        if meta.get("neck"):
            from warmstart.backbones.neck import build_neck

            neck, neck_dim = build_neck(meta["neck"], backbone, meta.get("depth"))
        head = meta.get("head")
        return Classifier(backbone, int(meta.get("n_classes", 0)), HeadSpec.from_json(head),
                          depth=meta.get("depth"), input_spec=InputSpec.from_json(meta.get("input", {})),
                          neck=neck, neck_spec=meta.get("neck"), neck_dim=neck_dim)
    except WarmstartError:
        raise
    except (KeyError, TypeError, ValueError, ImportError) as exc:
        raise CheckpointError(f"checkpoint metadata does not describe a model: {exc}") from None


def load_checkpoint(path: str | Path, *, device: str | torch.device = "cpu", first_member: bool = False) -> Checkpoint:
    """Load a checkpoint folder, verifying its hash and architecture.

    ``first_member``: of an ensemble's checkpoint, return its first member alone, a plain classifier (what a transfer
    source fine-tunes); the metadata is the file's either way.

    Raises:
        CheckpointError: missing/truncated/tampered files (hash mismatch), or weights whose
            names or shapes do not fit the backbone the metadata names.
    """
    from warmstart.backbones.ensemble import Ensemble

    path = Path(path)
    meta = read_meta(path)
    weights = path / WEIGHTS
    digest = sha256_file(weights)
    if digest != meta.get("sha256"):
        raise CheckpointError(
            f"checkpoint {weights}: sha256 mismatch (file is truncated or was modified); refusing to load"
        )
    try:
        state = load_file(str(weights), device="cpu")
    except Exception as exc:  # safetensors raises its own error types
        raise CheckpointError(f"checkpoint {weights}: unreadable safetensors file ({exc})") from None
    model = build_model(meta)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"checkpoint {path}: weights do not fit backbone {meta['backbone']['name']!r} "
            f"(missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    for k, v in expected.items():
        if tuple(v.shape) != tuple(state[k].shape):
            raise CheckpointError(
                f"checkpoint {path}: weight {k} has shape {tuple(state[k].shape)} but backbone "
                f"{meta['backbone']['name']!r} needs {tuple(v.shape)}"
            )
    model.load_state_dict(state)
    if first_member and isinstance(model, Ensemble):
        model = model.first_member()
    return Checkpoint(model.to(device), meta, path)
