"""``self_training``: self-training on confident target pseudo-labels with weak/strong consistency —
FixMatch's unlabelled loss (Sohn et al., NeurIPS 2020, "FixMatch: Simplifying Semi-Supervised Learning
with Consistency and Confidence") applied to the target pool of unsupervised domain adaptation, as in
TLlib's self-training digits recipes.

Each step: source cross-entropy on a labelled source batch (B = ``batch_size``) plus
λ_u (``trade_off``, 1) times the masked pseudo-label loss on an unlabelled target
batch of μB (μ = ``unlabeled_ratio``, 3 by default — the paper's 7 is heavy on a CPU):
the pseudo-label is the prediction on the weak view (a shift of up to 12.5 %, no
flip), kept when its confidence ≥ τ (``threshold``, 0.95; FlexMatch's class-wise
thresholds with ``thresholds=flexmatch``), and the loss is the cross-entropy of the
strong view (RandAugment-like pair of operations + cutout) against it. The model
starts from the source model and keeps its classifier (``bottleneck=0``, the loop's default), so the
pseudo-labels are the source model's from the first step. Both views go through
batch norm as target batches (domain-specific statistics), then AdaBN at the end.
``mcc > 0`` adds minimum class confusion on the weak view's predictions (Jin et al., ECCV 2020).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor

from warmstart.engine.augment import strong_view, weak_view
from warmstart.engine.trainer import StepInfo
from warmstart.errors import IncompatibleError
from warmstart.losses.fixmatch import FlexMatchThresholds, fixmatch_loss
from warmstart.strategies._adaptation import ADAPTATION_PARAMS, MCC_PARAMS, AdaptationStrategy
from warmstart.strategies._params import Param
from warmstart.tasks._task import Task, n_items

THRESHOLD = Param(0.95, 0.001, 0.999, search=(0.8, 0.98),
                  help="confidence threshold tau of a pseudo-label, in (0, 1)")
SEMI_PARAMS: dict[str, Param] = {
    "threshold": THRESHOLD,
    "thresholds": Param("fixed", choices=("fixed", "flexmatch"),
                        help="fixed: tau for every class; flexmatch: class-wise tau scaled by each class's "
                             "learning status (Zhang et al. 2021)"),
    "unlabeled_ratio": Param(3, 1, 64, help="mu: unlabelled examples per step = mu x batch_size"),
    "strong_ops": Param(2, 0, 12, help="random operations of the strong view (RandAugment's N)"),
    "cutout": Param(0.5, 0.0, 1.0, help="largest cutout side of the strong view, as a fraction of the image side"),
    "weak_shift": Param(0.125, 0.0, 0.5, help="largest shift of the weak view, as a fraction of the image size"),
    "flip": Param(False, help="horizontal flips in the weak view (off: they change digits and letters)"),
}


def require_images(task: Task, strategy: str) -> None:
    """Refuse a task whose inputs are not images (the weak and strong views are image augmentations).

    Raises:
        IncompatibleError: the task is tabular or text.
    """
    if task.modality != "image":
        raise IncompatibleError(f"{strategy} trains on weak and strong image augmentations; task {task.name!r} "
                                f"is {task.modality} data")


class SelfTraining(AdaptationStrategy):
    """Self-training on the target pool: confident weak-view pseudo-labels teach the strong view."""

    name = "self_training"
    paper = ("Sohn et al., FixMatch: Simplifying Semi-Supervised Learning with Consistency and Confidence, "
             "NeurIPS 2020 (on the target pool)")
    summary = "pseudo-labels on confident target predictions, weak/strong consistency (FixMatch-style)"
    params: ClassVar[dict[str, Param]] = {
        **ADAPTATION_PARAMS,
        **SEMI_PARAMS,
        **MCC_PARAMS,
        "trade_off": Param(1.0, 0.0, 1000.0, search=(0.3, 3.0), log=True,
                           help="lambda_u: weight of the pseudo-label loss"),
    }

    def unlabeled_batch(self) -> int:
        """μ × batch_size target-pool examples per step."""
        return int(self.batch_size * self.unlabeled_ratio)

    def _fit(self, task: Task, source: Any) -> None:
        require_images(task, self.name)
        self._flex = (FlexMatchThresholds(n_items(task.x_unlabeled), task.n_classes, self.threshold)
                      if self.thresholds == "flexmatch" and task.has_unlabeled else None)
        self._kept = [0, 0]  # pseudo-labels kept, seen
        super()._fit(task, source)
        self.info_["pseudo_label_rate"] = self._kept[0] / max(1, self._kept[1])
        self.info_["unlabeled_batch"] = self.unlabeled_batch()

    def target_view(self, x: Tensor, generator: torch.Generator) -> Tensor:
        """The weak view: a shift (and a flip when ``flip``)."""
        return weak_view(x, generator, max_shift=self.weak_shift, flip=self.flip)

    def target_loss(self, forward: Any, x_t: Tensor, index: Tensor, z_t: Tensor, info: StepInfo) -> Tensor:
        """Masked cross-entropy of the strong view against the weak view's confident pseudo-labels."""
        _, z_strong = forward(strong_view(x_t, info.generator, n_ops=self.strong_ops, cutout=self.cutout))
        tau: float | Tensor = self.threshold
        if self._flex is not None:
            self._flex.update(index, z_t)
            tau = self._flex.thresholds().to(z_t.device)
        loss, mask, _ = fixmatch_loss(z_t, z_strong, tau)
        self._kept[0] += int(mask.sum())
        self._kept[1] += len(mask)
        return loss
