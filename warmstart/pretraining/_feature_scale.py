"""Standardize a self-supervised encoder's features by folding 1/std into its last batch norm.

A joint-embedding loss (NT-Xent, BYOL's cosine loss) reads the encoder's features only
through a projection head that starts with Linear → BatchNorm, so it leaves their scale
undetermined: after SimCLR on mnist5k + digits the pooled features of a smallcnn vary by
about 0.06 per channel against about 0.24 after supervised training. A probe with a fixed
L2 penalty (``linear_probe``, l2 = 0.1) then cannot grow its weights enough and underfits.
Linear evaluation usually standardizes the features first (a BatchNorm without affine
parameters before the linear classifier: He et al., "Masked Autoencoders Are Scalable
Vision Learners", CVPR 2022, App. A.2, after MoCo v3); here that standardization is folded
into the checkpoint instead, so every strategy that starts from it sees unit-scale features.

When the features are ``pool(ReLU(BN(·)))`` with a per-channel positively homogeneous
pooling (global average, optionally after max or average pooling), multiplying the last
batch norm's weight and bias by s_c > 0 multiplies feature c by s_c exactly, because
ReLU(s·u) = s·ReLU(u) for s > 0. The representation is unchanged up to that per-channel
scale; nothing else in the network moves. Other layouts (a residual block last, a neck, a
cut encoder) are left untouched and reported as such.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from warmstart.backbones._base import GlobalAvgPool
from warmstart.backbones.classifier import Classifier

_HOMOGENEOUS = (nn.ReLU, nn.MaxPool2d, nn.AvgPool2d, nn.Identity)


def _last_batch_norm(encoder: Classifier) -> nn.BatchNorm2d | None:
    """The batch norm whose output, through ReLU and pooling only, is the feature vector; else None."""
    bb = encoder.backbone
    if encoder.depth not in (None, bb.num_stages) or not isinstance(encoder.neck, nn.Identity):
        return None
    if not isinstance(bb.pool, GlobalAvgPool):
        return None
    last = bb.stages[-1]
    if not isinstance(last, nn.Sequential):
        return None
    layers = list(last.children())
    while layers and isinstance(layers[-1], (nn.MaxPool2d, nn.AvgPool2d)):
        layers.pop()
    if len(layers) < 2 or not isinstance(layers[-1], nn.ReLU):
        return None
    bn = layers[-2]
    if not isinstance(bn, nn.BatchNorm2d) or not bn.affine:
        return None
    return bn


@torch.no_grad()
def standardize_features(encoder: Classifier, x: Tensor, batch_size: int = 512) -> bool:
    """Rescale ``encoder`` in place so its pooled features have unit standard deviation per channel on ``x``.

    The features are measured in eval mode (running batch-norm statistics); channels that
    do not vary on ``x`` (std below 1e-6) are left as they are.

    Args:
        encoder: A head-less classifier (any device).
        x: Images the scale is measured on (the pretraining images).
        batch_size: Images per forward pass.

    Returns:
        True when the scale was folded in; False when the encoder's layout does not end
        in batch norm → ReLU → pooling (it is then unchanged).
    """
    bn = _last_batch_norm(encoder)
    if bn is None:
        return False
    was_training = encoder.training
    encoder.eval()
    dev = bn.weight.device
    feats = torch.cat([encoder.features(x[i:i + batch_size].to(dev)).float().cpu()
                       for i in range(0, len(x), batch_size)])
    std = feats.std(dim=0)
    scale = torch.where(std > 1e-6, 1.0 / std.clamp_min(1e-6), torch.ones_like(std)).to(dev)
    bn.weight.mul_(scale.to(bn.weight.dtype))
    bn.bias.mul_(scale.to(bn.bias.dtype))
    encoder.train(was_training)
    return True
