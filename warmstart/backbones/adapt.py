"""Adapting a source model to a target task: input channels, resolution, head.

Sources and targets rarely match exactly. Grey target images on a colour source are
repeated to the source's channels inside the model, before the source's per-channel
normalization (``InputSpec.repeat_grey``): the source computes exactly what it would on
the grey picture stored as RGB. Any other channel difference is adapted by folding or
repeating the first convolution's weights (as timm's ``adapt_input_conv`` does for
``in_chans``; not exact when the channels' normalizations differ), a different resolution by resizing
inputs to the source's resolution inside the model, and a different class set by
a new head. Only truly incompatible pairs (an image source for a tabular target,
say) are refused.
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from warmstart.backbones.classifier import Classifier
from warmstart.errors import ConfigError, IncompatibleError
from warmstart.tasks._task import Task


def adapt_conv_weight(weight: torch.Tensor, in_chans: int) -> torch.Tensor:
    """Fold (sum) or repeat-and-rescale a conv kernel's input channels to ``in_chans``.

    The adapted layer gives the same response to a grey image whichever way it is
    fed: 3→1 sums the RGB kernels; 1→3 repeats the kernel and divides by 3.
    """
    src = weight.shape[1]
    if src == in_chans:
        return weight
    if in_chans == 1:
        return weight.sum(dim=1, keepdim=True)
    reps = math.ceil(in_chans / src)
    return weight.repeat(1, reps, 1, 1)[:, :in_chans] * (src / in_chans)


def _first_conv(module: nn.Module) -> tuple[nn.Module, str, nn.Conv2d] | None:
    for name, child in module.named_modules():
        if isinstance(child, nn.Conv2d):
            parent_name, _, attr = name.rpartition(".")
            parent = module.get_submodule(parent_name) if parent_name else module
            return parent, attr, child
    return None


def _adapt_first_conv(model: Classifier, c: int) -> None:
    """Fold or repeat the first convolution to ``c`` input channels; normalization averaged to ``c`` channels.

    Raises:
        IncompatibleError: the backbone has no convolution.
    """
    spec = model.backbone.spec
    found = _first_conv(model.backbone)
    if found is None:
        raise IncompatibleError(
            f"source backbone {spec.name!r} has no convolution to adapt from {spec.in_chans} to {c} channels")
    parent, attr, conv = found
    new = nn.Conv2d(c, conv.out_channels, conv.kernel_size, conv.stride,  # type: ignore[arg-type]
                    conv.padding, conv.dilation, conv.groups,  # type: ignore[arg-type]
                    conv.bias is not None, conv.padding_mode)
    with torch.no_grad():
        new.weight.copy_(adapt_conv_weight(conv.weight, c))
        if conv.bias is not None:
            new.bias.copy_(conv.bias)  # type: ignore[union-attr]
    setattr(parent, attr, new.to(conv.weight.device))
    model.backbone.spec = dataclasses.replace(spec, in_chans=c)
    ins = model.input_spec
    if ins.mean:
        m, s = sum(ins.mean) / len(ins.mean), sum(ins.std) / len(ins.std)
        model.input_spec = dataclasses.replace(ins, mean=[m] * c, std=[s] * c)
        shape = (1, -1, 1, 1)
        model.in_mean = torch.tensor([m] * c).reshape(shape).to(conv.weight.device)
        model.in_std = torch.tensor([s] * c).reshape(shape).to(conv.weight.device)


def head_matches(source_classes: list[str] | None, task: Task) -> bool:
    """Whether the source's class names equal the target's (same order)."""
    return source_classes is not None and list(source_classes) == list(task.classes)


def adapt_to_task(model: Classifier, task: Task, source_classes: list[str] | None,
                  head: str = "auto") -> tuple[Classifier, dict[str, object]]:
    """Adapt ``model`` (in place) so it accepts ``task``'s inputs and predicts its classes.

    Args:
        model: A source model.
        task: The target task.
        source_classes: Class names of the source head (None: no usable head).
        head: ``reuse`` the source classifier (class names must match), ``new``, or
            ``auto`` (reuse when the class names match).

    Returns:
        The model and a report: ``head`` (``reuse``/``new``) and ``adapted`` (list of notes).

    Raises:
        IncompatibleError: modalities differ, or tabular feature counts differ.
        ConfigError: ``head="reuse"`` but the class names differ, or an unknown ``head``.
    """
    notes: list[str] = []
    src_mod = model.input_spec.modality
    if src_mod != task.modality:
        raise IncompatibleError(
            f"a {src_mod} source cannot be transferred to {task.modality} task {task.name!r}"
        )
    spec = model.backbone.spec
    if task.modality == "tabular" and spec.in_chans != task.input_shape[0]:
        raise IncompatibleError(
            f"source expects {spec.in_chans} tabular features but task {task.name!r} has "
            f"{task.input_shape[0]}"
        )
    if task.modality == "image":
        c, h, w = task.input_shape
        ins = model.input_spec
        if c == 1 and spec.in_chans > 1:
            if not ins.repeat_grey:  # exact: the source sees the grey picture as it would stored as RGB
                model.input_spec = dataclasses.replace(ins, repeat_grey=True)
                notes.append(f"grey images repeated to the source's {spec.in_chans} channels (before its "
                             "per-channel normalization)")
        elif spec.in_chans != c or ins.repeat_grey:
            if ins.repeat_grey:  # a model adapted to grey images meets colour ones
                model.input_spec = dataclasses.replace(ins, repeat_grey=False)
            if spec.in_chans != c:
                _adapt_first_conv(model, c)
                notes.append(f"first convolution adapted from {spec.in_chans} to {c} input channels")
        size = model.input_spec.input_size
        if size is not None and tuple(size) != (h, w):
            notes.append(f"inputs resized from {h}x{w} to the source's {size[0]}x{size[1]}")
    if head not in ("auto", "reuse", "new"):
        raise ConfigError(f"head={head!r} is not valid; choose one of ['auto', 'new', 'reuse']")
    match = head_matches(source_classes, task) and model.head is not None
    if head == "reuse" and not match:
        raise ConfigError(
            f"head=reuse needs the source's classes {source_classes} to equal the target's {task.classes}")
    used = "reuse" if (match and head != "new") else "new"
    if used == "new":
        model.replace_head(task.n_classes)
        if source_classes is not None and not match:
            notes.append(f"head replaced: source has {len(source_classes)} classes, target {task.n_classes}")
    return model, {"head": used, "adapted": notes}
