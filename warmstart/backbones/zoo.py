"""Model-zoo sources: a ``timm:`` or ``hf:`` model as a ready source :class:`Classifier`.

:func:`zoo_model` builds what a zoo source transfers from: the pretrained backbone,
and, when the pretrained classifier and its class names are known, the source's own
head and classes (ImageNet's 1,000 for timm's ImageNet models: the head then predicts
ImageNet classes as the original model does). Input size and normalization come
from the model's pretrained configuration (timm's ``pretrained_cfg``); ``input_size``
overrides the size. ``hf:`` text encoders have no head: a feature-only model.

Weights: ``timm:NAME`` without a file is timm's pretrained weights (downloaded into
timm's own cache, or read from it offline; when neither works the error names
``--weights FILE``); with ``weights=FILE`` a local file in any layout that
:mod:`warmstart.backbones.weights_layout` recognizes.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import torch

from warmstart.backbones._registry import create_backbone
from warmstart.backbones.classifier import Classifier, InputSpec
from warmstart.errors import ConfigError

PREFIXES = ("timm:", "hf:")


def is_zoo_name(name: str | Path | None) -> bool:
    """Whether ``name`` names a model-zoo model (``timm:NAME`` or ``hf:NAME|FOLDER``)."""
    return isinstance(name, str) and name.startswith(PREFIXES)


@functools.lru_cache(maxsize=1)
def imagenet_classes() -> tuple[str, ...]:
    """ImageNet-1k's 1,000 class names in timm's label order, short and unique.

    Each name is the first synonym of timm's description (``tench``, ``bell cote``); the
    few repeated ones (two ``crane``, two ``maillot``) get their WordNet id appended.
    """
    from timm.data import ImageNetInfo

    info = ImageNetInfo("imagenet-1k")
    short = [info.index_to_description(i).split(",")[0].strip() for i in range(info.num_classes())]
    return tuple(f"{s} ({info.index_to_label_name(i)})" if short.count(s) > 1 else s
                 for i, s in enumerate(short))


def _pretrained_classes(cfg: dict[str, Any], rows: int) -> list[str] | None:
    """Class names of a pretrained head with ``rows`` outputs, when timm's config tells them."""
    try:
        from timm.data import infer_imagenet_subset
    except ImportError:
        return None
    subset = infer_imagenet_subset(cfg)
    if subset in ("imagenet-1k", "imagenet1k") and rows == 1000:
        return list(imagenet_classes())
    return None


def zoo_model(name: str, *, weights: str | Path | None = None,
              input_size: tuple[int, int] | None = None) -> tuple[Classifier, list[str] | None, dict[str, Any]]:
    """The pretrained source model of a zoo name, with its classes and a description of its weights.

    Args:
        name: ``timm:NAME`` (optionally with a pretrained tag) or ``hf:NAME|FOLDER``.
        weights: A local weights file for ``timm:`` (``.safetensors``, ``.pth``, ``.bin``).
        input_size: Image size (H, W) instead of the model's pretrained default.

    Returns:
        ``(model, classes, info)``: the classifier (with the pretrained head when its classes
        are known, else feature-only), the class names or None, and JSON facts about the
        weights (``model``, ``weights``, ``weights_from``, ``layout``).

    Raises:
        ConfigError: not a zoo name; ``weights`` with ``hf:``; timm's pretrained weights cannot
            be had offline (names ``--weights FILE``); a weights file that cannot be read, is
            not a plain state dict, or fits no layout (names the first key and shape).
        UnknownNameError: an unknown timm name (lists close matches).
        WarmstartError: the extra (vision/text) is not installed.
    """
    if not is_zoo_name(name):
        raise ConfigError(f"{name!r} is not a model-zoo name; use timm:NAME or hf:NAME|FOLDER")
    info: dict[str, Any] = {"model": name, "weights": str(weights) if weights is not None else None}
    if name.startswith("hf:"):
        if weights is not None:
            raise ConfigError(f"source {name!r} takes its weights from the model folder; drop --weights")
        text = create_backbone(name, in_chans=0)
        info.update(weights_from="the model folder", layout="")
        return Classifier(text, 0, input_spec=InputSpec("text")).eval(), None, info
    import timm

    cfg = timm.models.get_pretrained_cfg(name[len("timm:"):]) if timm.is_model(name[len("timm:"):]) else None
    in_chans = int(cfg.input_size[0]) if cfg is not None and cfg.input_size else 3
    tb: Any = create_backbone(name, in_chans=in_chans, input_size=input_size,  # a TimmBackbone
                              weights=str(weights) if weights is not None else None,
                              pretrained=None if weights is not None else True)
    pcfg = tb.timm_model.pretrained_cfg or {}
    size = input_size or (tuple(pcfg["input_size"][1:]) if pcfg.get("input_size") else None)
    spec = InputSpec("image", list(tb.default_mean), list(tb.default_std),
                     tuple(int(s) for s in size) if size else None)  # type: ignore[arg-type]
    head = tb.pretrained_head
    w = head.get("weight")
    classes = (_pretrained_classes(dict(pcfg), int(w.shape[0]))
               if w is not None and w.shape[1] == tb.feature_dim else None)
    model = Classifier(tb, len(classes) if classes else 0, input_spec=spec)
    if classes:
        with torch.no_grad():
            model.output_layer.weight.copy_(w)
            if "bias" in head:
                model.output_layer.bias.copy_(head["bias"])
            else:
                model.output_layer.bias.zero_()
    info.update(weights_from=tb.weights_plan.describe(), layout=tb.weights_layout,
                head="pretrained" if classes else "none")
    return model.eval(), classes, info
