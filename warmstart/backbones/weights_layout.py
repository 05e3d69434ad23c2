"""Mapping a foreign state dict onto a timm model's own tensor names.

Weights files come in the layout of the library that trained them. Three layouts
are recognized, tried in this order; the first that fits is used:

* ``timm``: timm's own names. torchvision's ResNets use exactly the names of timm's
  ResNets (``conv1``, ``bn1``, ``layer1.0.conv1``, ``downsample.0``, ``fc``), so a
  torchvision ResNet file is this case too.
* ``efficientnet-pytorch``: the EfficientNet-PyTorch family (``_conv_stem``, ``_bn0``,
  ``_blocks.N._expand_conv``/``_depthwise_conv``/``_se_reduce``/``_project_conv``,
  ``_conv_head``, ``_bn1``, ``_fc``), renamed onto timm's EfficientNets (``conv_stem``,
  ``bn1``, ``blocks.i.j.conv_pw``/``conv_dw``/``se.conv_reduce``/``conv_pwl``,
  ``conv_head``, ``bn2``, ``classifier``): the flat block index N is the N-th block of
  timm's ``blocks`` in order.
* ``order``: fallback when the names fit no rule: the file holds exactly as many
  tensors as the model, in the same order with the same shapes (stated in the
  result; a file in another order fails the shape check). Only for pickled state
  dicts (``.pth``/``.bin``): a safetensors file does not keep its tensors' order.

"Fits" means every tensor lands on a model tensor of the same shape, apart from the
first convolution (its input channels are adapted later), the classifier (dropped or
replaced later) and position embeddings (timm resamples them to the input size), and
at least half of the model's tensors are covered.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

from torch import Tensor

from warmstart.errors import ConfigError

Shapes = Mapping[str, tuple[int, ...]]
_RESAMPLED = ("pos_embed", "relative_position")  # timm resamples these to the model's input size

# EfficientNet-PyTorch names inside one block → timm names, for blocks with and without expansion.
_EFF_EXPAND = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
               "_se_reduce": "se.conv_reduce", "_se_expand": "se.conv_expand", "_project_conv": "conv_pwl",
               "_bn2": "bn3"}
_EFF_NO_EXPAND = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_se_reduce": "se.conv_reduce",
                  "_se_expand": "se.conv_expand", "_project_conv": "conv_pw", "_bn2": "bn2"}
_EFF_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}


def _timm(state: Mapping[str, Tensor], ref: Shapes) -> dict[str, Tensor]:
    return dict(state)


def _efficientnet_pytorch(state: Mapping[str, Tensor], ref: Shapes) -> dict[str, Tensor]:
    if not any(k.startswith("_blocks.") for k in state):
        return {}
    blocks = sorted({(int(m.group(1)), int(m.group(2))) for k in ref
                     if (m := re.match(r"blocks\.(\d+)\.(\d+)\.", k))})
    expands = {int(m.group(1)) for k in state if (m := re.match(r"_blocks\.(\d+)\._expand_conv\.", k))}
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        m = re.match(r"_blocks\.(\d+)\.(\w+)\.(.+)$", key)
        if m:
            n, part, rest = int(m.group(1)), m.group(2), m.group(3)
            table = _EFF_EXPAND if n in expands else _EFF_NO_EXPAND
            if n >= len(blocks) or part not in table:
                out[key] = value  # left unmapped: reported as not fitting
                continue
            i, j = blocks[n]
            out[f"blocks.{i}.{j}.{table[part]}.{rest}"] = value
            continue
        head, _, rest = key.partition(".")
        out[f"{_EFF_TOP[head]}.{rest}" if head in _EFF_TOP else key] = value
    return out


def _order(state: Mapping[str, Tensor], ref: Shapes) -> dict[str, Tensor]:
    if len(state) != len(ref):
        return {}
    return {name: value for name, value in zip(ref, state.values(), strict=True)}


LAYOUTS: dict[str, Callable[[Mapping[str, Tensor], Shapes], dict[str, Tensor]]] = {
    "timm": _timm,
    "efficientnet-pytorch": _efficientnet_pytorch,
    "order": _order,
}


def _fits(name: str, shape: tuple[int, ...], ref: Shapes, first_conv: str, classifier: Sequence[str]) -> bool:
    want = ref.get(name)
    if want is None:
        return False
    if want == shape:
        return True
    if len(want) != len(shape):
        return False
    module = name.rpartition(".")[0]
    if module == first_conv and name.endswith(".weight"):  # other input channels: folded later
        return shape[0] == want[0] and shape[2:] == want[2:]
    if module in classifier:  # another class count: replaced later
        return shape[1:] == want[1:]
    return any(r in name for r in _RESAMPLED)  # resampled to the input size by timm


def _misfit(mapped: Mapping[str, Tensor], original: Sequence[str], ref: Shapes, first_conv: str,
            classifier: Sequence[str]) -> tuple[str, tuple[int, ...]] | None:
    """The first (original name, shape) that does not land on a model tensor of its shape; None if all do."""
    for orig, (name, value) in zip(original, mapped.items(), strict=True):
        if not _fits(name, tuple(value.shape), ref, first_conv, classifier):
            return orig, tuple(value.shape)
    return None


def map_state_dict(state: Mapping[str, Tensor], ref: Shapes, *, label: str, first_conv: str = "",
                   classifier: Sequence[str] = (), ordered: bool = True) -> tuple[dict[str, Tensor], str]:
    """Rename ``state`` onto the model whose tensor shapes are ``ref``; return it and the layout used.

    Args:
        state: The file's tensors, in the file's order.
        ref: The model's tensor names and shapes (its full state dict, classifier included), in order.
        label: The model's name for messages (``timm:efficientnet_lite0``).
        first_conv: Name of the input convolution (its channel count may differ).
        classifier: Names of the classifier modules (their class count may differ).
        ordered: Whether ``state`` is in the order its tensors were saved (enables the ``order`` layout).

    Raises:
        ConfigError: no layout fits; the message names the first key (and its shape) that does not
            fit the layout that fitted best.
    """
    best: tuple[int, str, tuple[int, ...]] | None = None
    for layout, rename in LAYOUTS.items():
        if layout == "order" and not ordered:
            continue
        mapped = rename(state, ref)
        if len(mapped) != len(state):
            continue
        bad = _misfit(mapped, list(state), ref, first_conv, classifier)
        covered = sum(1 for k in mapped if k in ref)
        if bad is None and covered * 2 >= len(ref):
            return mapped, layout
        fitted = covered if bad is None else list(state).index(bad[0])
        if bad is None:
            bad = (next(iter(state)), tuple(next(iter(state.values())).shape))
        if best is None or fitted > best[0]:
            best = (fitted, *bad)
    key, shape = (best[1], best[2]) if best is not None else ("(none)", ())
    raise ConfigError(f"weights do not fit {label}: tensor {key!r} with shape {list(shape)} fits no known layout "
                      f"({', '.join(LAYOUTS)}); the file has {len(state)} tensors, the model {len(ref)}")
