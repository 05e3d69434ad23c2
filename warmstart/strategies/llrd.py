"""``llrd``: fine-tuning with layer-wise learning-rate decay.

Howard & Ruder, "Universal Language Model Fine-tuning for Text Classification"
(discriminative fine-tuning), ACL 2018; timm's ``--layer-decay`` and AutoGluon's
default fine-tuning. With parameter groups (not gradient scaling):

    lr(stage) = lr_head · γ^(number of stages above it)

so the top stage trains at ``lr_head``, the one below at ``lr_head·γ``, and so
on; the head and any neck train at ``lr_head``. γ = 0.75 by default (the usual
range is 0.65–0.9; AutoGluon uses 0.9 for deep transformers, and a small CNN
with 3 stages needs a steeper decay for the same effect).
"""

from __future__ import annotations

from typing import Any, ClassVar

from warmstart.backbones.classifier import Classifier
from warmstart.strategies._params import Param
from warmstart.strategies._source_finetune import SourceFinetune, head_parameters, stages_in_use


def layer_decay_groups(model: Classifier, lr_head: float, gamma: float) -> list[dict[str, Any]]:
    """One optimizer group per stage with lr_head·γ^(stages above), plus neck and head at lr_head."""
    stages = stages_in_use(model)
    n = len(stages)
    groups = [{"params": list(s.parameters()), "lr": lr_head * gamma ** (n - 1 - i), "name": f"stage{i}"}
              for i, s in enumerate(stages)]
    groups.append({"params": list(model.neck.parameters()), "lr": lr_head, "name": "neck"})
    groups.append({"params": head_parameters(model), "lr": lr_head, "name": "head"})
    return groups


class LLRD(SourceFinetune):
    """Fine-tune with per-stage learning rates lr_head·γ^(stages above)."""

    name = "llrd"
    paper = ("Howard & Ruder, Universal Language Model Fine-tuning for Text Classification, ACL 2018 "
             "(discriminative fine-tuning / layer-wise learning-rate decay)")
    summary = "fine-tune, learning rate decaying from the head down"
    params: ClassVar[dict[str, Param]] = {
        **{k: v for k, v in SourceFinetune.params.items() if k != "head_lr_mult"},
        "lr": Param(3e-3, 1e-7, 10.0, log=True, search=(1e-4, 3e-2), help="learning rate of the head (lr_head)"),
        "gamma": Param(0.75, 0.01, 1.0, search=(0.5, 1.0), help="decay factor per stage below the head"),
    }

    def param_groups(self, model: Classifier) -> list[dict[str, Any]]:
        groups = layer_decay_groups(model, self.lr, self.gamma)
        self.info_["stage_lrs"] = [g["lr"] for g in groups if g["name"].startswith("stage")]
        return groups
