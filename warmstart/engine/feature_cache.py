"""Cached features of a frozen backbone prefix.

Head-only training (linear probes, head search, NAS blocks on a frozen prefix)
reuses the same frozen features many times. They are computed once, in eval
mode under ``torch.no_grad()``, and kept keyed by

* the model's identity (a checkpoint's sha256, or any string the caller gives),
* the cut depth (number of stages run) and whether the output is pooled,
* a fingerprint of the inputs (sha256 of the tensor bytes, or a caller-given
  split name such as ``"digits/train/shots=5/seed=0"``).

Entries live in memory (a small LRU); with ``disk=True`` they are also written
as safetensors under ``warmstart.source.cache_dir() / "features"`` (atomically)
and read back by later processes. Nothing is unpickled.

Example:
    >>> feats = cached_features(model, task.x_train, depth=None, key=ckpt.sha256)
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from warmstart._atomic import atomic_path
from warmstart.engine.embed import embed
from warmstart.errors import ConfigError
from warmstart.tasks._task import n_items

FEATURE_DIR = "features"


def data_fingerprint(x: Any) -> str:
    """A short fingerprint of an input container.

    Tensors and lists of strings are fingerprinted by content. A streamed image dataset
    (:class:`~warmstart.tasks.loaders._image_files.ImageFileDataset`, and torch ``Subset`` /
    ``ConcatDataset`` of them, as few-shot sampling and splits make) by its file list, each
    file's size and modification time, its channel count and image size: a file rewritten
    in place (new mtime) or resized gets a new fingerprint, without decoding any image.

    Raises:
        ConfigError: another kind of dataset (give an explicit ``data_key``).
    """
    h = hashlib.sha256()
    if isinstance(x, Tensor):
        t = x.detach().to("cpu").contiguous()
        h.update(f"{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    elif isinstance(x, list):
        h.update(f"list|{len(x)}|".encode())
        for s in x:
            h.update(str(s).encode("utf-8", "surrogatepass") + b"\x00")
    else:
        _stream_fingerprint(x, h)
    return h.hexdigest()[:32]


def _stream_fingerprint(x: Any, h: Any) -> None:
    """Feed a streamed dataset's identity (files, sizes, mtimes, image size) into ``h``."""
    from torch.utils.data import ConcatDataset, Subset

    if isinstance(x, Subset):
        h.update(f"subset|{list(x.indices)}|".encode())
        _stream_fingerprint(x.dataset, h)
    elif isinstance(x, ConcatDataset):
        h.update(f"concat|{len(x.datasets)}|".encode())
        for d in x.datasets:
            _stream_fingerprint(d, h)
    elif all(hasattr(x, a) for a in ("files", "channels", "size")):
        h.update(f"files|{x.channels}|{tuple(x.size)}|{len(x.files)}|".encode())
        for f in x.files:
            try:
                st = os.stat(f)
                h.update(f"{f}|{st.st_size}|{st.st_mtime_ns}\x00".encode("utf-8", "surrogatepass"))
            except OSError:
                h.update(f"{f}|missing\x00".encode("utf-8", "surrogatepass"))
    else:
        raise ConfigError(f"feature cache: a {type(x).__name__} dataset needs an explicit data_key")


class FeatureCache:
    """An in-memory LRU of feature tensors, optionally backed by safetensors files on disk.

    Args:
        max_items: Entries kept in memory (least recently used evicted first).
        disk_dir: Folder for the on-disk cache (default ``cache_dir()/features``).
    """

    def __init__(self, max_items: int = 32, disk_dir: Path | None = None) -> None:
        self.max_items = max_items
        self._disk_dir = disk_dir
        self._mem: OrderedDict[str, Tensor] = OrderedDict()
        self.hits = 0
        self.misses = 0

    @property
    def disk_dir(self) -> Path:
        """Where on-disk entries go."""
        if self._disk_dir is not None:
            return self._disk_dir
        from warmstart._paths import cache_dir

        return cache_dir() / FEATURE_DIR

    @staticmethod
    def make_key(model_key: str, depth: int | None, data_key: str, pooled: bool = True) -> str:
        """The cache key of (model, cut depth, pooled, data)."""
        raw = f"{model_key}|depth={depth}|pooled={pooled}|data={data_key}"
        return hashlib.sha256(raw.encode()).hexdigest()[:40]

    def get(self, model: nn.Module, x: Any, *, model_key: str, depth: int | None = None,
            data_key: str | None = None, pooled: bool = True, disk: bool = False,
            batch_size: int = 256) -> Tensor:
        """Features of ``x`` from ``model`` cut at ``depth``, computed at most once per key.

        Args:
            model: The frozen model (see :func:`embed`).
            x: Inputs.
            model_key: Identity of the weights, e.g. a checkpoint's sha256. Two models with
                different weights must never share a key.
            depth: Cut depth (None: the model's own cut).
            data_key: Identity of the inputs (default: a content fingerprint of ``x``).
            pooled: Pool to N×D.
            disk: Also read/write the on-disk cache.
            batch_size: Inference batch size on a miss.

        Returns:
            The cached CPU tensor (do not modify it in place).
        """
        if not model_key:
            raise ConfigError("feature cache: model_key must identify the weights (e.g. checkpoint sha256)")
        key = self.make_key(model_key, depth, data_key or data_fingerprint(x), pooled)
        if key in self._mem:
            self._mem.move_to_end(key)
            self.hits += 1
            return self._mem[key]
        feats: Tensor | None = None
        path = self.disk_dir / f"{key}.safetensors"
        if disk and path.is_file():
            try:
                feats = load_file(str(path))["features"]
            except Exception:  # a corrupt entry is recomputed and rewritten
                feats = None
            if feats is not None and len(feats) != n_items(x):
                feats = None
        if feats is None:
            self.misses += 1
            feats = embed(model, x, depth, pooled=pooled, batch_size=batch_size)
            if disk:
                with atomic_path(path) as tmp:
                    save_file({"features": feats.contiguous()}, str(tmp),
                              metadata={"model_key": model_key, "depth": str(depth), "pooled": str(pooled)})
        else:
            self.hits += 1
        self._mem[key] = feats
        while len(self._mem) > self.max_items:
            self._mem.popitem(last=False)
        return feats

    def clear(self) -> None:
        """Drop the in-memory entries (files on disk stay)."""
        self._mem.clear()
        self.hits = self.misses = 0


_DEFAULT = FeatureCache()


def default_cache() -> FeatureCache:
    """The process-wide feature cache."""
    return _DEFAULT


def cached_features(model: nn.Module, x: Any, depth: int | None = None, key: str | None = None, *,
                    data_key: str | None = None, pooled: bool = True, disk: bool = False,
                    cache: FeatureCache | None = None) -> Tensor:
    """Features of ``x`` through ``model`` cut at ``depth``, from the process-wide cache.

    ``key`` identifies the weights (a checkpoint's sha256; see :meth:`FeatureCache.get`).
    """
    if key is None:
        raise ConfigError("cached_features needs key= (the checkpoint sha256 or another weights id)")
    return (cache or _DEFAULT).get(model, x, model_key=key, depth=depth, data_key=data_key,
                                    pooled=pooled, disk=disk)
