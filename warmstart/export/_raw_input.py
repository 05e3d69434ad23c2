"""A wrapper that makes a classifier take raw inputs and return probabilities.

Image models take uint8 images N×H×W×C of any size (C = the model's channels)
and do their own scaling to [0, 1], resizing to the model's resolution and
normalization; tabular and other models take float rows. The output is class
probabilities. This is the graph that ONNX and TorchScript exports contain.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from warmstart.backbones.classifier import Classifier


class RawInputModel(nn.Module):
    """Raw input → probabilities, around a :class:`Classifier`."""

    def __init__(self, model: Classifier) -> None:
        super().__init__()
        self.model = model.eval()
        spec = model.input_spec
        self.is_image = spec.modality == "image"
        size = spec.input_size
        self.size: tuple[int, int] | None = (int(size[0]), int(size[1])) if size else None

    def forward(self, x: Tensor) -> Tensor:
        if self.is_image:
            x = x.permute(0, 3, 1, 2).to(torch.float32) / 255.0
            if self.size is not None:
                x = F.interpolate(x, size=self.size, mode="bilinear", align_corners=False)
        else:
            x = x.to(torch.float32)
        return torch.softmax(self.model(x), dim=1)


def example_input(model: Classifier, batch: int = 2, seed: int = 0) -> Tensor:
    """A random raw input the exported graph accepts (uint8 NHWC images or float rows)."""
    gen = torch.Generator().manual_seed(seed)
    spec = model.backbone.spec
    if model.input_spec.modality == "image":
        h, w = model.input_spec.input_size or (32, 32)
        return torch.randint(0, 256, (batch, h + 3, w + 5, spec.in_chans), generator=gen, dtype=torch.uint8)
    return torch.randn(batch, spec.in_chans, generator=gen)
