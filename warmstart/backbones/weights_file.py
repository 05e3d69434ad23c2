"""Reading a foreign weights file safely: a flat mapping of tensor names to tensors.

``.safetensors`` files are read with safetensors; ``.pth``/``.pt``/``.bin``/``.ckpt``
files with ``torch.load(weights_only=True)``, PyTorch's restricted unpickler, which
builds only tensors and plain containers and refuses every other object before
running any of its code: nothing is ever fully unpickled. The usual wrappers of a
training checkpoint (``state_dict``, ``model``, ``state_dict_ema``, ``model_ema``,
``model_state_dict``) are opened, and a ``module.`` prefix (DataParallel) is
stripped. Anything that is not, in the end, a flat dict of tensors is refused.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from warmstart.errors import ConfigError

SUFFIXES = (".safetensors", ".pth", ".pt", ".bin", ".ckpt")
_WRAPPERS = ("state_dict_ema", "model_ema", "state_dict", "model_state_dict", "model")


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """The tensors of a weights file, by name, on the CPU.

    Args:
        path: A ``.safetensors`` file, or a ``.pth``/``.pt``/``.bin``/``.ckpt`` state dict.

    Returns:
        A flat ``{name: tensor}`` dict, in the file's order.

    Raises:
        ConfigError: a missing file, an unknown suffix, an unreadable file, a pickle that holds
            anything but tensors and plain containers (refused, never executed), or a file
            without a flat dict of tensors.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(f"weights file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ConfigError(f"weights file {path}: unknown format {suffix or '(no suffix)'!r}; "
                          f"give one of {', '.join(SUFFIXES)}")
    if suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return dict(load_file(str(path), device="cpu"))
        except Exception as exc:  # safetensors raises its own error types
            raise ConfigError(f"weights file {path}: not a readable safetensors file ({_first(exc)})") from None
    try:
        with warnings.catch_warnings():  # torch's note on the pickle protocol: the error line says it all
            warnings.simplefilter("ignore", UserWarning)
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError for refused globals, others for corrupt files
        if "weights_only" in str(exc) or "Unsupported global" in str(exc):
            raise ConfigError(f"weights file {path} is a pickle with objects other than tensors; refused "
                              f"(only plain state dicts are read, never unpickled in full)") from None
        raise ConfigError(f"weights file {path}: not a readable PyTorch state dict ({_first(exc)})") from None
    return _flatten(obj, path)


def _first(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


def _flatten(obj: Any, path: Path) -> dict[str, Tensor]:
    for _ in range(3):  # a wrapper inside a wrapper at most
        if isinstance(obj, dict) and not all(isinstance(v, Tensor) for v in obj.values()):
            inner = next((obj[k] for k in _WRAPPERS if isinstance(obj.get(k), dict)), None)
            if inner is None:
                break
            obj = inner
    if not isinstance(obj, dict) or not obj:
        raise ConfigError(f"weights file {path} holds no state dict (a dict of tensors); got {type(obj).__name__}")
    bad = next((k for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, Tensor)), None)
    if bad is not None:
        raise ConfigError(f"weights file {path}: entry {bad!r} is a {type(obj[bad]).__name__}, not a tensor; "
                          f"not a plain state dict")
    if all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return dict(obj)
