"""Necks: modules between the cut backbone and the pooling, described by JSON.

Architecture search appends new blocks after the cut (or a derived DARTS
cell); the ``neck_spec`` stored in checkpoint metadata rebuilds them, so a
searched architecture loads like any other checkpoint. Two kinds:

* ``{"type": "blocks", "modality": "image", "in_dim": C, "blocks": [{"width": w, "kernel": k}, ...]}``
  — conv–BN–ReLU blocks (``image``) or Linear–ReLU blocks (``tabular``), the
  blocks that Net2Net morphisms (Chen et al. 2016) grow; see
  :mod:`warmstart.search.morphism`.
* ``{"type": "cell", "modality": "image", "in_dim": C, "width": w, "nodes": n, "ops": [...]}``
  — a DARTS cell (Liu et al. 2019), see :mod:`warmstart.backbones._cell`.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from warmstart.backbones._base import Backbone
from warmstart.backbones._cell import DiscreteCell
from warmstart.errors import CheckpointError


def neck_block(cin: int, width: int, kernel: int = 3, modality: str = "image") -> nn.Sequential:
    """One new block: Conv(k×k, same padding)–BN–ReLU for images, Linear–ReLU for vectors."""
    if modality == "image":
        if kernel < 1 or kernel % 2 == 0:
            raise ValueError(f"kernel must be odd and >= 1, got {kernel}")
        return nn.Sequential(nn.Conv2d(cin, width, kernel, padding=kernel // 2, bias=False),
                             nn.BatchNorm2d(width), nn.ReLU())
    return nn.Sequential(nn.Linear(cin, width), nn.ReLU())


def cut_dim(backbone: Backbone, depth: int | None) -> int:
    """Output channels (or width) of ``backbone`` cut after ``depth`` stages."""
    cut = backbone.num_stages if depth is None else int(depth)
    if not 1 <= cut <= backbone.num_stages:
        raise CheckpointError(f"cut depth {cut} is outside the backbone's 1..{backbone.num_stages} stages")
    return int(backbone.stage_dims[cut - 1])


def build_neck(spec: dict[str, Any], backbone: Backbone, depth: int | None) -> tuple[nn.Module, int]:
    """Build the neck described by ``spec`` on ``backbone`` cut at ``depth``.

    Returns:
        The module and its output dimension (channels, or width for vectors).

    Raises:
        CheckpointError: unknown neck type, or a spec that does not fit the backbone.
    """
    cin = cut_dim(backbone, depth)
    if int(spec.get("in_dim", cin)) != cin:
        raise CheckpointError(f"neck expects {spec['in_dim']} input channels but the backbone cut at "
                              f"depth {depth} gives {cin}")
    modality = str(spec.get("modality", backbone.modality))
    kind = spec.get("type")
    try:
        if kind == "blocks":
            blocks: list[nn.Module] = []
            d = cin
            for b in spec.get("blocks", []):
                blocks.append(neck_block(d, int(b["width"]), int(b.get("kernel", 3)), modality))
                d = int(b["width"])
            return nn.Sequential(*blocks), d
        if kind == "cell":
            cell = DiscreteCell(cin, int(spec["width"]), int(spec["nodes"]), list(spec["ops"]), modality)
            return cell, cell.out_dim
    except (KeyError, ValueError, TypeError) as exc:
        raise CheckpointError(f"neck spec does not describe a neck: {exc}") from None
    raise CheckpointError(f"unknown neck type {kind!r}; valid: blocks, cell")


def blocks_spec(cin: int, blocks: list[dict[str, int]], modality: str = "image") -> dict[str, Any] | None:
    """The ``neck_spec`` of a list of blocks (None when there are none: a plain model)."""
    if not blocks:
        return None
    return {"type": "blocks", "modality": modality, "in_dim": int(cin),
            "blocks": [{"width": int(b["width"]), "kernel": int(b.get("kernel", 3))} for b in blocks]}
