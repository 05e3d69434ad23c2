"""Device selection and a sensible torch thread count."""

from __future__ import annotations

import os

import torch

from warmstart.errors import ConfigError

_THREADS_SET = False


def configure_threads(n: int | None = None) -> int:
    """Set torch's intra-op threads once: ``n``, else ``$WARMSTART_THREADS``, else the usable cores.

    Returns:
        The thread count in force.
    """
    global _THREADS_SET
    if n is None and _THREADS_SET:
        return torch.get_num_threads()
    if n is None:
        env = os.environ.get("WARMSTART_THREADS")
        if env:
            n = int(env)
        elif hasattr(os, "sched_getaffinity"):
            n = len(os.sched_getaffinity(0))
        else:
            n = os.cpu_count() or 1
    n = max(1, int(n))
    torch.set_num_threads(n)
    _THREADS_SET = True
    return n


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """Turn ``auto``/``cpu``/``cuda``/``cuda:N`` into a device.

    ``auto`` is ``$WARMSTART_DEVICE`` when that is set (to anything but ``auto``), else CUDA when available, else
    the CPU: ``WARMSTART_DEVICE=cpu`` keeps every command that was not given a device off a GPU (the test suite
    does so: its expected numbers are CPU numerics), where ``CUDA_VISIBLE_DEVICES=`` would hide the GPU from an
    explicit ``--device cuda`` too.

    Raises:
        ConfigError: an unknown device string (``$WARMSTART_DEVICE`` included, named as such), or CUDA asked for
            but not available.
    """
    if isinstance(device, torch.device):
        return device
    name = (device or "auto").lower()
    if name == "auto":
        env = os.environ.get("WARMSTART_DEVICE", "").strip()
        if env and env.lower() != "auto":
            try:
                return resolve_device(env)
            except ConfigError as exc:
                raise ConfigError(f"WARMSTART_DEVICE={env!r}: {exc}") from None
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device {device!r} asked for but CUDA is not available; use --device cpu")
        return torch.device(name)
    if name == "mps" and getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    raise ConfigError(f"unknown device {device!r}; valid: auto, cpu, cuda, cuda:N")
