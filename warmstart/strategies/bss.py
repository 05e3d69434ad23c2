"""``bss``: fine-tuning with batch spectral shrinkage.

Chen, Wang, Fu, Long, Wang, "Catastrophic Forgetting Meets Negative Transfer:
Batch Spectral Shrinkage for Safe Transfer Learning", NeurIPS 2019. For the
batch feature matrix F (batch × dim) fed to the head, the loss adds

    L_bss = η · Σ_{i=1..k} σ_{−i}²

the squares of the k smallest singular values (``torch.linalg.svdvals`` every
step), shrinking the feature directions that carry little transferable signal.

Defaults: k = 1, η = 1e-3 (the paper's), the rest those of ``finetune``.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from warmstart.backbones.classifier import Classifier
from warmstart.engine.trainer import StepInfo
from warmstart.strategies._params import Param
from warmstart.strategies._source_finetune import SourceFinetune


def bss_penalty(feats: Tensor, k: int) -> Tensor:
    """Σ of the k smallest squared singular values of the batch feature matrix."""
    sv = torch.linalg.svdvals(feats.float())  # descending
    k = min(k, sv.numel())
    return (sv[-k:] ** 2).sum()


class BSS(SourceFinetune):
    """Fine-tune with η·Σ σ²_{−i} over the k smallest singular values of the feature batch."""

    name = "bss"
    paper = ("Chen et al., Catastrophic Forgetting Meets Negative Transfer: Batch Spectral "
             "Shrinkage for Safe Transfer Learning, NeurIPS 2019")
    summary = "fine-tune, shrinking the smallest feature singular values"
    params: ClassVar[dict[str, Param]] = {
        **SourceFinetune.params,
        "eta": Param(1e-3, 0.0, 10.0, search=(1e-4, 1e-1), log=True, help="weight of the BSS penalty"),
        "k": Param(1, 1, 1024, search=(1, 4), help="number of smallest singular values penalized"),
    }

    def extra_loss(self, model: Classifier, feats: Tensor, logits: Tensor, info: StepInfo) -> Tensor | None:
        return self.eta * bss_penalty(feats, self.k)
