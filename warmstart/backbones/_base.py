"""The Backbone contract: ordered stages, a pooling step, ``feature_dim``.

A backbone maps inputs to a feature vector. Its ``stages`` (an ``nn.ModuleList``)
run in order, so it can be frozen or cut at any depth; ``pool`` turns the output
of the last stage that ran into a vector. ``spec`` is the JSON-serializable
recipe that :func:`warmstart.backbones.create_backbone` rebuilds it from.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from torch import Tensor, nn


@dataclass(frozen=True)
class BackboneSpec:
    """How to rebuild a backbone: registry name, keyword arguments, input format.

    Attributes:
        name: Registry name (``smallcnn``, ``resnet``, ``mlp``, ``timm:<name>``, ``hf:<name>``).
        kwargs: Architecture keyword arguments (JSON-serializable).
        in_chans: Input channels for images, input width for tabular, 0 for text.
        input_size: Spatial size (H, W) images are resized to, or None.
    """

    name: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    in_chans: int = 1
    input_size: tuple[int, int] | None = None

    def to_json(self) -> dict[str, Any]:
        """A plain dict for JSON metadata."""
        d = asdict(self)
        d["input_size"] = list(self.input_size) if self.input_size else None
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> BackboneSpec:
        """Inverse of :meth:`to_json`."""
        size = d.get("input_size")
        return cls(
            name=str(d["name"]),
            kwargs=dict(d.get("kwargs", {})),
            in_chans=int(d.get("in_chans", 1)),
            input_size=tuple(size) if size else None,  # type: ignore[arg-type]
        )


class Backbone(nn.Module):
    """Base class of every backbone.

    Subclasses set ``self.stages`` (ModuleList, run in order), ``self.pool``
    (module mapping the last stage's output to N×D), ``self.stage_dims`` (output
    dimension of each stage after pooling) and ``self.spec``.
    """

    stages: nn.ModuleList
    pool: nn.Module
    stage_dims: list[int]
    spec: BackboneSpec
    modality: str = "image"

    @property
    def num_stages(self) -> int:
        """Number of stages."""
        return len(self.stages)

    @property
    def feature_dim(self) -> int:
        """Dimension of :meth:`forward_features` with all stages."""
        return self.stage_dims[-1]

    def forward_stages(self, x: Any, start: int = 0, end: int | None = None) -> Any:
        """Run stages ``start..end-1`` (unpooled output)."""
        for stage in self.stages[start:end]:
            x = stage(x)
        return x

    def forward_features(self, x: Any, depth: int | None = None) -> Tensor:
        """Pooled features after the first ``depth`` stages (all when None)."""
        return self.pool(self.forward_stages(x, 0, depth))

    def forward(self, x: Any) -> Tensor:
        """Same as :meth:`forward_features` with all stages."""
        return self.forward_features(x)


class GlobalAvgPool(nn.Module):
    """Mean over spatial dimensions for N×C×H×W maps; identity for N×D vectors."""

    def forward(self, x: Tensor) -> Tensor:
        return x.mean(dim=(2, 3)) if x.dim() == 4 else x.flatten(1)
