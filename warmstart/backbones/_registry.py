"""Backbone registry: ``create_backbone(name, ...)`` and ``list_backbones()``.

Plain names map to builder functions; ``timm:<name>`` and ``hf:<name or path>``
are prefixes handled by the optional adapters (extras ``vision`` and ``text``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from warmstart.backbones._base import Backbone, BackboneSpec
from warmstart.backbones.mlp import MLP
from warmstart.backbones.resnet import ResNet
from warmstart.backbones.smallcnn import SmallCNN
from warmstart.errors import ConfigError, UnknownNameError

_BUILDERS: dict[str, Callable[..., Backbone]] = {
    "smallcnn": SmallCNN,
    "resnet": ResNet,
    "mlp": MLP,
}
_PREFIXES: dict[str, str] = {
    "timm:": "warmstart.backbones.timm_adapter",
    "hf:": "warmstart.backbones.hf_text",
}
DESCRIPTIONS = {
    "smallcnn": "3-stage conv net for 28-64 px images (image)",
    "resnet": "small ResNet, depth/width parameters (image)",
    "mlp": "multilayer perceptron (tabular)",
    "timm:<name>": "any timm model; NAME.TAG: timm's pretrained weights, --weights FILE: local ones (extra: vision)",
    "hf:<name or folder>": "Hugging Face text encoder, mean-pooled (extra: text)",
}


def register_backbone(name: str, builder: Callable[..., Backbone]) -> None:
    """Register a backbone builder taking ``in_chans``, ``input_size`` and its own kwargs."""
    _BUILDERS[name] = builder


def list_backbones() -> list[str]:
    """Registered backbone names, with the adapter prefixes last."""
    return [*_BUILDERS, "timm:<name>", "hf:<name or folder>"]


def create_backbone(name: str, *, in_chans: int = 1, input_size: tuple[int, int] | None = None,
                    weights: str | None = None, pretrained: bool | None = None, **kwargs: Any) -> Backbone:
    """Create a backbone by registry name.

    Args:
        name: A name from :func:`list_backbones` (``timm:resnet18``, ``hf:/path/to/model``...).
        in_chans: Input channels (images) or features (tabular).
        input_size: Image size (H, W) the backbone expects; None keeps the builder's default.
        weights: Local pretrained weights for adapters (a timm weights file); None for none.
        pretrained: For ``timm:`` names without ``weights``: True loads timm's pretrained
            weights, False builds the architecture only, None (default) decides by the name's
            pretrained tag (see :mod:`warmstart.backbones._timm_weights`). Other backbones
            accept only None or False (they have no built-in pretrained weights).
        **kwargs: Architecture keyword arguments.

    Raises:
        UnknownNameError: unknown name (lists the valid ones).
        ConfigError: invalid architecture arguments.
    """
    for prefix, module in _PREFIXES.items():
        if name.startswith(prefix):
            import importlib

            mod = importlib.import_module(module)
            if prefix == "timm:":
                kwargs["pretrained"] = pretrained
            elif pretrained:
                raise ConfigError(f"backbone {name!r} takes its weights from the model folder; drop pretrained")
            return mod.create(name[len(prefix):], in_chans=in_chans, input_size=input_size,  # type: ignore[no-any-return]
                              weights=weights, **kwargs)
    if name not in _BUILDERS:
        raise UnknownNameError("backbone", name, list_backbones())
    if weights is not None or pretrained:
        raise ConfigError(f"backbone {name!r} has no built-in pretrained weights and takes no --weights file; "
                          f"load a checkpoint instead")
    extra = {"input_size": tuple(input_size)} if input_size is not None else {}
    try:
        return _BUILDERS[name](in_chans=in_chans, **extra, **kwargs)
    except TypeError as exc:
        raise ConfigError(f"backbone {name!r}: {exc}") from None
    except ValueError as exc:
        raise ConfigError(f"backbone {name!r}: {exc}") from None


def create_from_spec(spec: BackboneSpec) -> Backbone:
    """Rebuild a backbone's architecture from its :class:`BackboneSpec` (no pretrained weights loaded)."""
    return create_backbone(spec.name, in_chans=spec.in_chans, input_size=spec.input_size, pretrained=False,
                           **spec.kwargs)
