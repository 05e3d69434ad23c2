"""Resumable training state: model, optimizer and progress in safetensors + JSON.

The optimizer's state dict mixes tensors and plain values; tensors are stored in
``state.safetensors`` under flattened keys and everything else in ``state.json``,
so resuming never unpickles anything. Both files are written atomically.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from warmstart._atomic import atomic_path, write_text_atomic
from warmstart.errors import CheckpointError

STATE_T = "state.safetensors"
STATE_J = "state.json"


def _split(obj: Any, prefix: str, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, torch.Tensor):
        key = prefix or "_"
        tensors[key] = obj.detach().cpu().contiguous()
        return {"__tensor__": key}
    if isinstance(obj, dict):
        return {"__dict__": [[_split(k, f"{prefix}.k{i}", tensors), _split(v, f"{prefix}.{i}", tensors)]
                             for i, (k, v) in enumerate(obj.items())]}
    if isinstance(obj, (list, tuple)):
        return {"__list__": [_split(v, f"{prefix}.{i}", tensors) for i, v in enumerate(obj)],
                "tuple": isinstance(obj, tuple)}
    return obj


def _join(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__dict__" in obj:
            return {_join(k, tensors): _join(v, tensors) for k, v in obj["__dict__"]}
        if "__list__" in obj:
            items = [_join(v, tensors) for v in obj["__list__"]]
            return tuple(items) if obj.get("tuple") else items
    return obj


def save_state(folder: str | Path, state: dict[str, Any]) -> None:
    """Write a nested state (dicts, lists, tensors, numbers, strings) atomically."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    skeleton = _split(state, "s", tensors)
    with atomic_path(folder / STATE_T) as tmp:
        save_file(tensors, str(tmp))
    write_text_atomic(folder / STATE_J, json.dumps(skeleton))


def load_state(folder: str | Path) -> dict[str, Any]:
    """Read a state written by :func:`save_state`.

    Raises:
        CheckpointError: files missing or unreadable.
    """
    folder = Path(folder)
    try:
        tensors = load_file(str(folder / STATE_T))
        skeleton = json.loads((folder / STATE_J).read_text(encoding="utf-8"))
        return _join(skeleton, tensors)  # type: ignore[no-any-return]
    except (OSError, ValueError, KeyError) as exc:
        raise CheckpointError(f"resume state in {folder} is unreadable ({exc}); start without --resume") from None
    except Exception as exc:  # safetensors' own error type
        raise CheckpointError(f"resume state in {folder} is unreadable ({exc}); start without --resume") from None


def resume_into(model: Any, trainer: Any, resume_dir: Path, out: Path, mismatch: str) -> None:
    """Load an interrupted run's model and trainer state from ``resume_dir`` (``--resume``).

    Raises:
        CheckpointError: no resumable state, or one that does not fit this run (``mismatch``
            names what may differ, e.g. ``"other backbone, task or options?"``).
    """
    if not (resume_dir / "state.json").exists():
        raise CheckpointError(f"--resume: no interrupted run to resume in {out} (no {resume_dir.name}/ state)")
    state = load_state(resume_dir)
    try:
        model.load_state_dict(state["model"])
        trainer.load_state_dict(state["trainer"])
    except (KeyError, RuntimeError, ValueError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"--resume: the interrupted run in {resume_dir} does not fit this one ({mismatch}): {first}") from None
