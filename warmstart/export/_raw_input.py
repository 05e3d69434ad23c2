"""A wrapper that makes a classifier take raw inputs and return probabilities.

Image models take uint8 images N×H×W×C of any size with C = 1, 2, 3 or 4 (grey,
grey + alpha, RGB, RGBA) and convert them to the model's channels, scale them to
[0, 1], resize them to the model's resolution (see ``_image_prep``) and normalize
them (the classifier's own ``prepare``); tabular models take raw float rows and standardize them
with the table's mean and std the model records (``InputSpec.feature_mean``; rows are taken as
they are where it records none); other models take float rows.
The output is class probabilities. This is the graph that ONNX and TorchScript
exports contain, and the computation ``predict`` runs on image files.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from warmstart.backbones.classifier import Classifier
from warmstart.export._image_prep import CONVERTIBLE_CHANNELS, prepare_images


class RawInputModel(nn.Module):
    """Raw input → probabilities, around a :class:`Classifier`."""

    def __init__(self, model: Classifier) -> None:
        super().__init__()
        self.model = model.eval()
        spec = model.input_spec
        self.is_image = spec.modality == "image"
        self.channels = model.input_channels
        size = spec.input_size
        self.size: tuple[int, int] | None = (int(size[0]), int(size[1])) if size else None
        scaler = spec.scaler if spec.modality == "tabular" else None
        self.standardizes = scaler is not None
        if scaler is not None:  # raw rows → the standardization the model was trained in
            self.register_buffer("feature_mean", torch.tensor(scaler.mean, dtype=torch.float32))
            self.register_buffer("feature_std", torch.tensor(scaler.std, dtype=torch.float32))

    def forward(self, x: Tensor) -> Tensor:
        if self.is_image:
            x = prepare_images(x, self.channels, self.size)
        else:
            x = x.to(torch.float32)
            if self.standardizes:
                mean, std = self.get_buffer("feature_mean"), self.get_buffer("feature_std")
                x = (x - mean) / std
        return torch.softmax(self.model(x), dim=1)


def accepted_channels(model: Classifier) -> list[int]:
    """Channel counts the raw image input of ``model`` accepts."""
    chans = model.input_channels
    return [1, 2, 3, 4] if chans in CONVERTIBLE_CHANNELS else [chans]


def example_input(model: Classifier, batch: int = 2, seed: int = 0, channels: int | None = None) -> Tensor:
    """A random raw input the exported graph accepts (uint8 NHWC images or float rows).

    Images are a few pixels larger than the model's input size and have ``channels``
    channels (default: the model's own).
    """
    gen = torch.Generator().manual_seed(seed)
    spec = model.backbone.spec
    if model.input_spec.modality == "image":
        h, w = model.input_spec.input_size or (32, 32)
        c = model.input_channels if channels is None else channels
        return torch.randint(0, 256, (batch, h + 3, w + 5, c), generator=gen, dtype=torch.uint8)
    return torch.randn(batch, spec.in_chans, generator=gen)
