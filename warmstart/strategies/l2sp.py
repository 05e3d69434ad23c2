"""``l2sp``: fine-tuning with the starting-point penalty.

Li, Grandvalet, Davoine, "Explicit Inductive Bias for Transfer Learning with
Convolutional Networks", ICML 2018. The loss adds

    Ω(w) = α/2 · ‖w_S − w_S⁰‖² + β/2 · ‖w_new‖²

where w_S are the transferred weights (the backbone, and the classifier too when
the source head is reused), w_S⁰ their source values, and w_new the weights of a
new head. Transferred weights decay towards their source values, not towards
zero, so ``weight_decay`` defaults to 0 here. Batch-norm running statistics are
buffers, not parameters, and are not penalized.

Defaults: α = 0.01, β = 0.01 (the paper's typical values), the other settings
those of ``finetune``; checked on mnist5k-a → mnist5k-b-noisy, never on the
benchmark targets.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor

from warmstart.backbones.classifier import Classifier
from warmstart.engine.trainer import StepInfo
from warmstart.strategies._params import Param
from warmstart.strategies._source_finetune import SourceFinetune, head_parameters
from warmstart.tasks._task import Task


class L2SP(SourceFinetune):
    """Fine-tune with α/2·‖w − w⁰‖² on transferred weights and β/2·‖w_new‖² on new ones."""

    name = "l2sp"
    paper = ("Li, Grandvalet, Davoine, Explicit Inductive Bias for Transfer Learning with "
             "Convolutional Networks, ICML 2018")
    summary = "fine-tune, pulled towards the source weights"
    params: ClassVar[dict[str, Param]] = {
        **SourceFinetune.params,
        "alpha": Param(0.01, 0.0, 100.0, search=(1e-4, 1.0), log=True,
                       help="strength of the pull towards the source weights"),
        "beta": Param(0.01, 0.0, 100.0, search=(1e-4, 1.0), log=True,
                      help="L2 strength on the new head's weights"),
        "weight_decay": Param(0.0, 0.0, 1.0, help="decoupled weight decay (0: the penalty replaces it)"),
    }

    def setup(self, model: Classifier, task: Task) -> None:
        """Record the transferred weights' starting values."""
        reused = self.info_.get("head") == "reuse"
        transferred = list(model.backbone_parameters()) + (head_parameters(model) if reused else [])
        ids = {id(p) for p in transferred}
        self._source = [(p, p.detach().clone()) for p in transferred]
        self._new = [p for p in model.parameters() if id(p) not in ids and p.requires_grad]
        self.info_["l2sp"] = {"transferred_tensors": len(self._source), "new_tensors": len(self._new)}

    def penalty(self) -> Tensor:
        """Ω(w) for the current weights (the source copies follow the model to its device once)."""
        if self._source and self._source[0][1].device != self._source[0][0].device:
            self._source = [(p, p0.to(p.device)) for p, p0 in self._source]
        sp = sum(((p - p0) ** 2).sum() for p, p0 in self._source)
        new = sum((p ** 2).sum() for p in self._new)
        return 0.5 * self.alpha * torch.as_tensor(sp) + 0.5 * self.beta * torch.as_tensor(new)

    def extra_loss(self, model: Classifier, feats: Tensor, logits: Tensor, info: StepInfo) -> Tensor | None:
        return self.penalty()

    def _fit(self, task: Task, source: Any) -> None:
        super()._fit(task, source)
        del self._source, self._new  # release the copies
