"""``smallcnn``: a small convolutional network for 28–64 px grey or colour images.

Three conv–BN–ReLU stages (the first two max-pooled), global average pooling.
A LeNet-style baseline (LeCun et al. 1998) with batch norm (Ioffe & Szegedy 2015).
"""

from __future__ import annotations

from torch import nn

from warmstart.backbones._base import Backbone, BackboneSpec, GlobalAvgPool


def _block(cin: int, cout: int, pool: bool) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    ]
    if pool:
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class SmallCNN(Backbone):
    """Small CNN with ``len(widths)`` stages.

    Args:
        in_chans: Input channels.
        widths: Output channels per stage; every stage but the last halves the resolution.
    """

    def __init__(self, in_chans: int = 1, widths: tuple[int, ...] = (32, 64, 128),
                 input_size: tuple[int, int] | None = (28, 28)) -> None:
        super().__init__()
        widths = tuple(int(w) for w in widths)
        chans = (in_chans, *widths)
        self.stages = nn.ModuleList(
            _block(chans[i], chans[i + 1], pool=i < len(widths) - 1) for i in range(len(widths))
        )
        self.pool = GlobalAvgPool()
        self.stage_dims = list(widths)
        self.spec = BackboneSpec("smallcnn", {"widths": list(widths)}, in_chans, input_size)
