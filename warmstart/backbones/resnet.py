"""``resnet``: a small residual network for 28–64 px images (He et al. 2016).

A 3×3 stem then ``len(widths)`` stages of ``depth`` basic blocks; every stage
after the first halves the resolution.
"""

from __future__ import annotations

from torch import Tensor, nn

from warmstart.backbones._base import Backbone, BackboneSpec, GlobalAvgPool


class BasicBlock(nn.Module):
    """Two 3×3 conv–BN layers with a shortcut (projected when the shape changes)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.short: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.short(x))


class ResNet(Backbone):
    """Small ResNet.

    Args:
        in_chans: Input channels.
        depth: Basic blocks per stage.
        width: Channels of the first stage; doubled at each later stage.
        num_stages: Number of residual stages (the stem is stage 0).
    """

    def __init__(self, in_chans: int = 1, depth: int = 1, width: int = 16, num_stages: int = 3,
                 input_size: tuple[int, int] | None = (28, 28)) -> None:
        super().__init__()
        if depth < 1 or width < 1 or num_stages < 1:
            raise ValueError("resnet depth, width and num_stages must be >= 1")
        stem = nn.Sequential(nn.Conv2d(in_chans, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width),
                             nn.ReLU(inplace=True))
        stages: list[nn.Module] = [stem]
        dims = [width]
        cin = width
        for s in range(num_stages):
            cout = width * 2**s
            blocks = [BasicBlock(cin if b == 0 else cout, cout, 2 if (s > 0 and b == 0) else 1)
                      for b in range(depth)]
            stages.append(nn.Sequential(*blocks))
            dims.append(cout)
            cin = cout
        self.stages = nn.ModuleList(stages)
        self.pool = GlobalAvgPool()
        self.stage_dims = dims
        self.spec = BackboneSpec("resnet", {"depth": depth, "width": width, "num_stages": num_stages},
                                 in_chans, input_size)
