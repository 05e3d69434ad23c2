"""``mlp``: a multilayer perceptron for tabular data.

Each stage is Linear–LayerNorm–ReLU–Dropout; features are the last stage's output.
"""

from __future__ import annotations

from torch import nn

from warmstart.backbones._base import Backbone, BackboneSpec, GlobalAvgPool


class MLP(Backbone):
    """MLP backbone.

    Args:
        in_chans: Number of input features.
        hidden: Width of each stage.
        dropout: Dropout after each stage.
    """

    modality = "tabular"

    def __init__(self, in_chans: int = 4, hidden: tuple[int, ...] = (128, 64), dropout: float = 0.1,
                 input_size: tuple[int, int] | None = None) -> None:
        super().__init__()
        hidden = tuple(int(h) for h in hidden)
        dims = (in_chans, *hidden)
        self.stages = nn.ModuleList(
            nn.Sequential(nn.Linear(dims[i], dims[i + 1]), nn.LayerNorm(dims[i + 1]), nn.ReLU(),
                          nn.Dropout(dropout))
            for i in range(len(hidden))
        )
        self.pool = GlobalAvgPool()
        self.stage_dims = list(hidden)
        self.spec = BackboneSpec("mlp", {"hidden": list(hidden), "dropout": dropout}, in_chans, None)
