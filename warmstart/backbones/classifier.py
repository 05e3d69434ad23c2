"""The Classifier: input preparation, a (possibly cut) backbone, an optional neck, a head.

This is the model every strategy trains and every checkpoint stores. It takes
raw task inputs (images in [0, 1], standardized tabular rows, or text) and
applies the source's input normalization and resizing itself, so a checkpoint
is usable without knowing how its source data was preprocessed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from warmstart.backbones._base import Backbone
from warmstart.tasks._scaler import FeatureScaler

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}


@dataclass(frozen=True)
class HeadSpec:
    """Classifier head: optional hidden layers, then a linear layer to the classes.

    Attributes:
        hidden: Widths of hidden layers (empty: a single linear layer).
        activation: ``relu``, ``gelu`` or ``tanh``.
        dropout: Dropout before each linear layer.
        norm: Whether hidden layers are normalized.
        norm_layer: ``layer`` (LayerNorm) or ``batch`` (BatchNorm1d, e.g. a domain-adaptation
            bottleneck Linear-BN-ReLU).
        l2_normalize: Scale the features to unit L2 norm before the head (a cosine-similarity
            classifier when the head is one linear layer without bias).
    """

    hidden: tuple[int, ...] = ()
    activation: str = "relu"
    dropout: float = 0.0
    norm: bool = False
    norm_layer: str = "layer"
    l2_normalize: bool = False

    def to_json(self) -> dict[str, Any]:
        """Plain dict for JSON metadata (``l2_normalize`` only when set)."""
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        if not self.l2_normalize:
            del d["l2_normalize"]
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any] | None) -> HeadSpec:
        """Inverse of :meth:`to_json`."""
        if not d:
            return cls()
        return cls(tuple(int(h) for h in d.get("hidden", ())), str(d.get("activation", "relu")),
                   float(d.get("dropout", 0.0)), bool(d.get("norm", False)), str(d.get("norm_layer", "layer")),
                   bool(d.get("l2_normalize", False)))


class L2Normalize(nn.Module):
    """Scale each row (N×D) to unit L2 norm."""

    def forward(self, x: Tensor) -> Tensor:
        return F.normalize(x, dim=1)


def build_head(in_dim: int, n_classes: int, spec: HeadSpec) -> nn.Sequential:
    """Build the head described by ``spec``; its last module is the output ``nn.Linear``."""
    layers: list[nn.Module] = [L2Normalize()] if spec.l2_normalize else []
    d = in_dim
    for h in spec.hidden:
        if spec.dropout > 0:
            layers.append(nn.Dropout(spec.dropout))
        layers.append(nn.Linear(d, h))
        if spec.norm:
            layers.append(nn.BatchNorm1d(h) if spec.norm_layer == "batch" else nn.LayerNorm(h))
        layers.append(ACTIVATIONS[spec.activation]())
        d = h
    if spec.dropout > 0:
        layers.append(nn.Dropout(spec.dropout))
    layers.append(nn.Linear(d, n_classes))
    return nn.Sequential(*layers)


@dataclass
class InputSpec:
    """What the classifier expects and how it prepares inputs.

    Attributes:
        modality: ``image``, ``tabular`` or ``text``.
        mean, std: Per-channel (image) normalization applied inside the model.
        input_size: Images are resized to this (H, W) before the backbone, if set.
        repeat_grey: The model takes grey (1-channel) images and repeats them to the backbone's
            channels before the per-channel normalization: exactly what the source computes on a
            grey picture stored as RGB (a grey target on an RGB source).
        feature_mean, feature_std: Tabular: the per-feature standardization (raw units) of the table
            the model was trained on. The model takes standardized rows; raw rows are standardized
            with these (``predict``, exports) and another table's rows are moved into them
            (:meth:`warmstart.tasks.Task.in_scale`). Empty: unknown, rows are taken as they are.
    """

    modality: str = "image"
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)
    input_size: tuple[int, int] | None = None
    repeat_grey: bool = False
    feature_mean: list[float] = field(default_factory=list)
    feature_std: list[float] = field(default_factory=list)

    @property
    def scaler(self) -> FeatureScaler | None:
        """The tabular standardization as a :class:`~warmstart.tasks.FeatureScaler`, or None."""
        return FeatureScaler.from_json({"mean": self.feature_mean, "std": self.feature_std})

    def to_json(self) -> dict[str, Any]:
        """Plain dict for JSON metadata."""
        d = asdict(self)
        d["input_size"] = list(self.input_size) if self.input_size else None
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> InputSpec:
        """Inverse of :meth:`to_json`."""
        size = d.get("input_size")
        return cls(str(d.get("modality", "image")), list(d.get("mean", [])), list(d.get("std", [])),
                   tuple(size) if size else None, bool(d.get("repeat_grey", False)),  # type: ignore[arg-type]
                   list(d.get("feature_mean", [])), list(d.get("feature_std", [])))


class Classifier(nn.Module):
    """Backbone (cut at ``depth``) → neck → pooled features → head.

    Args:
        backbone: The feature extractor.
        n_classes: Number of classes; 0 builds no head (a feature-only checkpoint).
        head_spec: Architecture of the head.
        depth: Use only the first ``depth`` stages (None: all).
        input_spec: Normalization and resizing applied in :meth:`prepare`.
        neck: Extra modules between the cut backbone and the pooling (NAS appends
            blocks here); ``neck_spec`` is its JSON recipe, kept in checkpoints.
    """

    in_mean: Tensor | None
    in_std: Tensor | None

    def __init__(self, backbone: Backbone, n_classes: int, head_spec: HeadSpec | None = None,
                 depth: int | None = None, input_spec: InputSpec | None = None,
                 neck: nn.Module | None = None, neck_spec: dict[str, Any] | None = None,
                 neck_dim: int | None = None) -> None:
        super().__init__()
        self.backbone = backbone
        self.depth = depth
        self.input_spec = input_spec or InputSpec(modality=backbone.modality)
        self.head_spec = head_spec or HeadSpec()
        self.neck = neck if neck is not None else nn.Identity()
        self.neck_spec = neck_spec
        cut = backbone.num_stages if depth is None else depth
        self.feature_dim = neck_dim or backbone.stage_dims[cut - 1]
        self.n_classes = n_classes
        self.head: nn.Sequential | None = (
            build_head(self.feature_dim, n_classes, self.head_spec) if n_classes > 0 else None
        )
        spec = self.input_spec
        if spec.mean:
            shape = (1, -1, 1, 1) if spec.modality == "image" else (1, -1)
            self.register_buffer("in_mean", torch.tensor(spec.mean).reshape(shape), persistent=False)
            self.register_buffer("in_std", torch.tensor(spec.std).reshape(shape), persistent=False)
        else:
            self.in_mean = None
            self.in_std = None

    @property
    def input_channels(self) -> int:
        """Channels (image) or features (tabular) of the inputs the model takes (0 for text).

        The backbone's own count, or 1 when grey images are repeated to it (``repeat_grey``).
        """
        return 1 if self.input_spec.repeat_grey else int(self.backbone.spec.in_chans)

    def prepare(self, x: Any) -> Any:
        """Resize raw task inputs, repeat grey ones to the backbone's channels, normalize.

        Grey images are repeated (``input_spec.repeat_grey``) before the per-channel
        normalization, so the backbone sees what it would on the grey picture stored as RGB.
        """
        if not isinstance(x, Tensor):
            return x
        size = self.input_spec.input_size
        if size is not None and x.dim() == 4 and tuple(x.shape[-2:]) != tuple(size):
            x = F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)
        if self.input_spec.repeat_grey and x.dim() == 4 and x.shape[1] == 1:
            x = x.repeat(1, int(self.backbone.spec.in_chans), 1, 1)
        if self.in_mean is not None:
            x = (x - self.in_mean) / self.in_std
        return x

    def features(self, x: Any) -> Tensor:
        """Pooled features fed to the head."""
        h = self.backbone.forward_stages(self.prepare(x), 0, self.depth)
        return self.backbone.pool(self.neck(h))

    def forward(self, x: Any) -> Tensor:
        """Class logits."""
        if self.head is None:
            raise RuntimeError("this model has no classifier head; attach one with replace_head()")
        return self.head(self.features(x))

    def replace_head(self, n_classes: int, head_spec: HeadSpec | None = None) -> None:
        """Attach a new, randomly initialized head with ``n_classes`` outputs."""
        if head_spec is not None:
            self.head_spec = head_spec
        self.n_classes = n_classes
        self.head = build_head(self.feature_dim, n_classes, self.head_spec)
        if self.in_mean is not None:
            self.head.to(self.in_mean.device)

    @property
    def output_layer(self) -> nn.Linear:
        """The head's final linear layer."""
        assert self.head is not None
        last = self.head[-1]
        assert isinstance(last, nn.Linear)
        return last

    def backbone_parameters(self) -> list[nn.Parameter]:
        """Parameters of the stages in use, the neck and the pool (everything but the head).

        The pool has parameters only for adapter backbones whose own head normalizes or
        projects before the logits (a timm ConvNeXt's final norm, MobileNetV3's head conv).
        """
        cut = self.backbone.num_stages if self.depth is None else self.depth
        params = [p for s in self.backbone.stages[:cut] for p in s.parameters()]
        return params + list(self.neck.parameters()) + list(self.backbone.pool.parameters())
