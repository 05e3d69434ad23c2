"""``timm:<name>``: any timm model as a warmstart backbone with ordered stages.

timm (R. Wightman, *PyTorch Image Models*, 2019) provides hundreds of image
models behind one interface: ``forward_features`` (the trunk) and
``forward_head(x, pre_logits=True)`` (pooling and pre-logit layers). The adapter
splits ``forward_features`` into ordered stages so a timm model can be frozen or
cut at any depth like the built-in backbones:

1. A dummy forward records which top-level modules ``forward_features`` runs, in
   order. The container that timm's ``feature_info`` points into (``stages``,
   ``blocks``, ``features``, ``layers``) is expanded into its children; ResNet's
   ``layer1..4`` are top-level already.
2. Modules before the trunk form stage 0 (the stem; for ViTs it also adds the
   class token and position embedding). The trunk is cut after each
   ``feature_info`` point: one stage per resolution level for CNNs, one per block
   for ViTs. Modules after the last point (final conv, final norm) join the last
   stage.
3. The split is kept only if it reproduces ``forward_features`` exactly on the
   dummy input; otherwise the whole ``forward_features`` is one stage (correct,
   but cut only at full depth). ``TimmBackbone.split`` says which happened.

``pool`` runs the model's own head in ``pre_logits`` mode (global pooling plus the
final norm or pre-logit conv where the model has one) on outputs as wide as the
last stage's, and plain global average pooling on narrower intermediate outputs.

Pretrained weights come from a local file (``weights=FILE``), loaded exactly as
timm's ``pretrained=True, pretrained_cfg_overlay=dict(file=FILE)`` does
(safetensors, or ``.pth``/``.bin`` through ``torch.load(weights_only=True)``;
first conv folded to ``in_chans``, classifier dropped), or, for a name with a
pretrained tag (``resnet18.a1_in1k``) or ``pretrained=True``, from timm's own
download (its cache when offline); when those cannot be had, creation stops with
an error naming ``--weights FILE``. A plain name without a file is a random
initialization (see :mod:`warmstart.backbones._timm_weights`).
"""

from __future__ import annotations

import difflib
import json
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from warmstart.backbones._base import Backbone, BackboneSpec
from warmstart.backbones._timm_weights import WeightsPlan, create_timm_model, plan_weights
from warmstart.errors import ConfigError, UnknownNameError, WarmstartError

_RESERVED = ("pretrained", "pretrained_cfg", "pretrained_cfg_overlay", "num_classes", "in_chans",
             "features_only", "img_size", "checkpoint_path", "out_indices")
_CONTAINERS = ("stages", "blocks", "layers", "features")
_SCHEMES = ("hf-hub:", "hf_hub:", "local-dir:")


class UnknownTimmModelError(UnknownNameError, ConfigError):
    """A ``timm:<name>`` that timm does not know; the message lists close matches."""

    def __init__(self, name: str, close: list[str]) -> None:
        super().__init__("timm model", name, close)
        hint = f"close matches: {', '.join(close)}" if close else "see timm.list_models()"
        self.args = (f"unknown timm model {name!r}; {hint}",)


def _import_timm() -> Any:
    try:
        import timm
    except ImportError:
        raise WarmstartError('timm: backbones need timm; pip install "warmstart[vision]"') from None
    return timm


def _check_name(timm: Any, name: str) -> None:
    if name.startswith(_SCHEMES):
        raise ConfigError(f"timm backbone {name!r}: hub and folder names are not supported; "
                          f"use a timm model name and weights=FILE for local pretrained weights")
    if not name or not timm.is_model(name):
        arch = name.split(".")[0]
        names = timm.list_models()
        close = difflib.get_close_matches(arch, names, n=5, cutoff=0.6)
        if not close and len(arch) >= 3:
            close = timm.list_models(f"*{arch[:4]}*")[:5]
        raise UnknownTimmModelError(name, close)


def _share_root_tensors(holder: nn.Module, model: nn.Module) -> None:
    """Make ``holder`` own the model root's own parameters and buffers (cls token, pos embed).

    The dicts are shared, not copied, so model methods that read them (ViT's
    ``_pos_embed``) see exactly the holder's tensors, also after ``.to()`` and
    under ``torch.func.functional_call``.
    """
    holder.__dict__["_parameters"] = model._parameters
    holder.__dict__["_buffers"] = model._buffers
    holder.__dict__["_non_persistent_buffers_set"] = model._non_persistent_buffers_set


class _ModelCall(nn.Module):
    """Base for stage modules that call methods of the (unregistered) timm model."""

    _model: Any

    def __init__(self, model: nn.Module, names: Sequence[str]) -> None:
        super().__init__()
        self.__dict__["_model"] = model  # not registered: its parts are registered below
        for n in names:
            self.add_module(n, getattr(model, n))

    def _sync(self) -> Any:
        self._model.training = self.training
        return self._model


class _ViTStem(_ModelCall):
    """ViT stem: patch embedding, class/register tokens and position embedding, pre-norm."""

    def forward(self, x: Tensor) -> Tensor:
        m = self._sync()
        x = m.patch_embed(x)
        x = m._pos_embed(x)
        x = m.patch_drop(x) if hasattr(m, "patch_drop") else x
        return m.norm_pre(x) if hasattr(m, "norm_pre") else x  # type: ignore[no-any-return]


class _WholeTrunk(_ModelCall):
    """Fallback single stage: the model's whole ``forward_features``."""

    def forward(self, x: Tensor) -> Tensor:
        return self._sync().forward_features(x)  # type: ignore[no-any-return]


class _TimmPool(_ModelCall):
    """The model's head in ``pre_logits`` mode on full-width outputs, else global average pooling."""

    def __init__(self, model: nn.Module, names: Sequence[str], channels_last: bool) -> None:
        super().__init__(model, names)
        self.channels_last = channels_last
        self.final_width = -1
        self.final_ndim = -1

    def _width(self, x: Tensor) -> int:
        return int(x.shape[-1] if (x.dim() == 3 or self.channels_last) else x.shape[1])

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() == 2:
            return x
        if x.dim() == self.final_ndim and self._width(x) == self.final_width:
            return self._sync().forward_head(x, pre_logits=True).flatten(1)  # type: ignore[no-any-return]
        if x.dim() == 3:
            return x.mean(dim=1)
        return x.mean(dim=(1, 2) if self.channels_last else (2, 3))


def _executed_children(model: nn.Module, fn: Any, x: Tensor) -> tuple[list[str], Tensor]:
    """``fn(x)`` and the names of the model's top-level children it runs, in order of first call.

    A child counts as run when any module inside it runs (a ``ModuleList`` iterated in a
    loop never runs itself).
    """
    order: list[str] = []

    def hook(name: str) -> Any:
        return lambda _m, _a: order.append(name) if name not in order else None

    handles = [sub.register_forward_pre_hook(hook(name))
               for name, child in model.named_children() for sub in child.modules()]
    try:
        out = fn(x)
    finally:
        for h in handles:
            h.remove()
    return order, out


def _plan(model: nn.Module, order: list[str]) -> list[list[tuple[str, nn.Module]]]:
    """Group the executed top-level modules into stages (see the module docstring)."""
    fi = [str(f.get("module", "")) for f in getattr(model, "feature_info", []) or []
          if isinstance(f, dict)]
    children = dict(model.named_children())
    counts: dict[str, int] = {}
    for f in fi:
        head, _, rest = f.partition(".")
        if rest and isinstance(children.get(head), (nn.Sequential, nn.ModuleList)):
            counts[head] = counts.get(head, 0) + 1
    container = max(counts, key=lambda k: counts[k]) if counts else None
    if container is None:
        container = next((c for c in _CONTAINERS if c in order
                          and isinstance(children[c], (nn.Sequential, nn.ModuleList))), None)
    vit = container == "blocks" and hasattr(model, "_pos_embed") and hasattr(model, "patch_embed")

    atoms: list[tuple[str, nn.Module, str]] = []  # (module name in the stage, module, timm path)
    for name in order:
        if name == container:
            atoms += [(f"{name}_{c}", m, f"{name}.{c}") for c, m in children[name].named_children()]
        elif not (vit and name in ("patch_embed", "pos_drop", "patch_drop", "norm_pre")):
            atoms.append((name, children[name], name))
    if vit:
        stem_names: list[str] = [n for n in ("patch_embed", "pos_drop", "patch_drop", "norm_pre")
                                 if n in children]
        atoms.insert(0, ("stem", _ViTStem(model, stem_names), "stem"))

    trunk = [i for i, a in enumerate(atoms) if container and a[2].startswith(f"{container}.")]
    cuts = {i for i, (_, _, path) in enumerate(atoms)
            if any(f == path or f.startswith(path + ".") for f in fi)}
    if trunk and not cuts & set(trunk):
        cuts |= set(trunk)  # no feature_info inside the container: one stage per child
    if not cuts:
        cuts = set(range(len(atoms)))  # generic fallback: one stage per top-level module
    if trunk and trunk[0] > 0:  # the modules before the trunk are one stage 0 (the stem)
        cuts = {c for c in cuts if c >= trunk[0]} | {trunk[0] - 1}
    groups: list[list[tuple[str, nn.Module]]] = [[]]
    for i, (n, m, _) in enumerate(atoms):
        groups[-1].append((n, m))
        if i in cuts and i < len(atoms) - 1:
            groups.append([])
    if len(groups) > 1 and not any(i in cuts for i in range(len(atoms) - len(groups[-1]), len(atoms))):
        tail = groups.pop()
        groups[-1] += tail  # trailing modules after the last cut join the last stage
    return [g for g in groups if g]


class TimmBackbone(Backbone):
    """A timm model split into ordered stages (see the module docstring).

    Attributes:
        split: ``"stages"`` when ``forward_features`` was split, ``"single"`` for the fallback.
        stage_channels: Channels of each stage's unpooled output (``stage_dims`` are after
            ``pool``, which may project: MobileNetV3's head conv).
        stage_layout: Layout of the unpooled outputs: ``NCHW``, ``NHWC`` (Swin) or ``NLC`` (ViT tokens).
        load_report: Keys timm reported ``missing`` from / ``unexpected`` in the weights file.
        weights_plan: Where the weights came from (a file, timm's pretrained weights, random).
        pretrained_head: The pretrained classifier's ``weight``/``bias`` (of the file or timm's weights),
            kept out of the backbone; empty when there is none.
        weights_layout: The layout a weights file was read in (``timm``, ``efficientnet-pytorch``, ``order``).
        default_mean, default_std: The pretrained normalization from timm's config, per channel.
    """

    def __init__(self, model: Any, spec: BackboneSpec, dummy_size: tuple[int, int]) -> None:
        super().__init__()
        self.spec = spec
        self.load_report: dict[str, list[str]] = {"missing": [], "unexpected": []}
        self.weights_plan = WeightsPlan("random", spec.name)
        self.pretrained_head: dict[str, Tensor] = {}  # the pretrained classifier's weight/bias, when kept
        self.weights_layout = ""  # the layout a weights file was read in (see weights_layout)
        cfg = getattr(model, "pretrained_cfg", None)
        cfg = cfg if isinstance(cfg, dict) else {}
        mean, std = list(cfg.get("mean", (0.5,))), list(cfg.get("std", (0.5,)))
        c = spec.in_chans
        self.default_mean = mean[:c] if len(mean) == c else [sum(mean) / len(mean)] * c
        self.default_std = std[:c] if len(std) == c else [sum(std) / len(std)] * c

        gen = torch.Generator().manual_seed(0)
        x = torch.rand(2, spec.in_chans, *dummy_size, generator=gen)
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                order, feats = _executed_children(model, model.forward_features, x)
                head_order, ref = _executed_children(
                    model, lambda t: model.forward_head(t, pre_logits=True), feats)
        except (RuntimeError, ValueError, AssertionError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ConfigError(f"backbone {spec.name!r} does not run on {spec.in_chans}x"
                              f"{dummy_size[0]}x{dummy_size[1]} inputs: {first}") from None
        if not isinstance(feats, Tensor) or not isinstance(ref, Tensor):
            raise ConfigError(f"backbone {spec.name!r}: forward_features does not return one tensor; "
                              f"this model is not supported")
        ref = ref.flatten(1)
        head_names = [n for n in head_order if n not in order]
        channels_last = getattr(model, "output_fmt", "NCHW") == "NHWC"
        self.pool = _TimmPool(model, head_names, channels_last)

        self.split = "stages"
        try:
            groups = _plan(model, order)
            stages: list[nn.Module] = [nn.Sequential(OrderedDict(g)) for g in groups]
            with torch.no_grad():
                ok = self._reproduces(stages, x, feats)
        except Exception:  # any failure of the structural split falls back to one stage
            ok = False
        if not ok:
            self.split = "single"
            stages = [_WholeTrunk(model, order)]
        _share_root_tensors(stages[0], model)
        self.stages = nn.ModuleList(stages)
        self.pool.final_width = self.pool._width(feats)
        self.pool.final_ndim = feats.dim()
        self.eval()  # also sets the timm model's own flag for the head (dropout in forward_head)
        with torch.no_grad():
            self.stage_dims, self.stage_channels = [], []
            out = x
            for stage in self.stages:
                out = stage(out)
                self.stage_dims.append(int(self.pool(out).shape[1]))
                self.stage_channels.append(self.pool._width(out))
            if not torch.allclose(self.pool(out), ref, rtol=1e-4, atol=1e-5):
                raise ConfigError(f"backbone {spec.name!r}: pooled features differ from timm's "
                                  f"forward_head(pre_logits=True); this model is not supported")
        self.stage_layout = "NLC" if out.dim() == 3 else ("NHWC" if channels_last else "NCHW")
        self.train(was_training)

    @property
    def timm_model(self) -> Any:
        """The wrapped timm model; it shares every parameter and buffer with the stages and pool."""
        return self.pool._model  # type: ignore[no-any-return]

    @staticmethod
    def _reproduces(stages: Sequence[nn.Module], x: Tensor, feats: Tensor) -> bool:
        for s in stages:
            x = s(x)
        return x.shape == feats.shape and torch.equal(x, feats)  # exact: same ops, same order


def create(name: str, *, in_chans: int = 3, input_size: tuple[int, int] | None = None,
           weights: str | None = None, pretrained: bool | None = None, **kwargs: Any) -> TimmBackbone:
    """Create ``timm:<name>`` as a :class:`TimmBackbone`.

    Args:
        name: A timm model name, optionally with a pretrained tag (``resnet18.a1_in1k``).
        in_chans: Input channels; timm folds or repeats the first conv of pretrained weights.
        input_size: Image size (H, W). Passed to timm as ``img_size`` for fixed-size models
            (ViT, Swin...); their default size is recorded when None.
        weights: A local weights file (``.safetensors``, ``.pth``, ``.bin``) to load as timm's
            pretrained weights. Not part of the spec: checkpoints carry the weights themselves.
        pretrained: Without ``weights``: True loads timm's pretrained weights (downloaded, or
            from timm's cache); False builds the architecture only (random weights, to be
            replaced, e.g. by a checkpoint's); None (default) means True for a name with a
            pretrained tag and a random initialization for a plain name.
        **kwargs: Further timm model arguments (``drop_path_rate``...), JSON-serializable.

    Raises:
        WarmstartError: timm is not installed.
        UnknownTimmModelError: timm has no such model (lists close matches).
        ConfigError: invalid arguments, a missing weights file, or timm's pretrained weights
            asked for (a tag) but not available (offline and not cached): the message names
            ``--weights FILE``.
        CheckpointError: the weights file does not fit the model.
    """
    timm = _import_timm()
    _check_name(timm, name)
    label = f"timm:{name}"
    reserved = sorted(set(kwargs) & set(_RESERVED))
    if reserved:
        raise ConfigError(f"backbone {label!r}: argument {reserved[0]!r} is set by warmstart "
                          f"(use in_chans, input_size and weights)")
    try:
        json.dumps(kwargs)
    except (TypeError, ValueError):
        raise ConfigError(f"backbone {label!r}: arguments must be JSON values, got {kwargs!r}") from None
    try:
        cfg = timm.models.get_pretrained_cfg(name)
    except RuntimeError as exc:
        raise ConfigError(f"backbone {label!r}: {exc}") from None
    plan = plan_weights(timm, name, weights, pretrained)
    fixed = bool(cfg.fixed_input_size) if cfg is not None else False
    default = tuple(cfg.input_size[1:]) if cfg is not None and cfg.input_size else (224, 224)
    size = (int(input_size[0]), int(input_size[1])) if input_size is not None else None
    model_kwargs: dict[str, Any] = dict(kwargs, in_chans=int(in_chans), num_classes=0)
    if size is not None and fixed:
        model_kwargs["img_size"] = size
    model, report = create_timm_model(timm, plan, model_kwargs)
    spec_size = size if size is not None else (default if fixed else None)
    spec = BackboneSpec(f"timm:{plan.name}", dict(kwargs), int(in_chans), spec_size)  # type: ignore[arg-type]
    backbone = TimmBackbone(model, spec, size or default)  # type: ignore[arg-type]
    backbone.load_report = report
    backbone.weights_plan = plan
    backbone.pretrained_head = dict(getattr(model, "warmstart_pretrained_head", {}) or {})
    backbone.weights_layout = str(getattr(model, "warmstart_weights_layout", "") or "")
    return backbone
