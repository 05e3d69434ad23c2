"""An ensemble of classifiers that is itself a classifier: the average of their class probabilities.

Fits of several recipes that score alike on held-out labels disagree on a few examples each; the average of their
predicted probabilities is better calibrated and more accurate than most of them, and bets on none (Caruana et al.,
"Ensemble Selection from Libraries of Models", ICML 2004; Lakshminarayanan et al., "Simple and Scalable Predictive
Uncertainty Estimation using Deep Ensembles", NeurIPS 2017). :class:`Ensemble` returns, as its logits, the log of that
average, so a softmax of its output (what every evaluation, ``predict`` and the exported graph apply) is exactly the
average of the members' probabilities. It subclasses :class:`~warmstart.backbones.classifier.Classifier`: its
``backbone``, ``head``, ``features`` and input preparation are its first member's, so it is saved, loaded, exported and
served like any model (:mod:`warmstart.backbones.checkpoint` records the member count); used as a transfer source it
is its first member.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from warmstart.backbones.classifier import Classifier


def combinable(models: Sequence[nn.Module]) -> bool:
    """Whether ``models`` share one architecture (state-dict names and shapes) and one input preparation
    (``input_spec``, where they have one: a table's model fitted from scratch takes its own standardization, one from
    the source the source's) — what averaging their weights or their probabilities needs."""
    first = models[0].state_dict()
    spec = getattr(models[0], "input_spec", None)
    for m in models[1:]:
        state = m.state_dict()
        if state.keys() != first.keys() or any(state[k].shape != first[k].shape for k in first):
            return False
        if getattr(m, "input_spec", None) != spec:
            return False
    return True


class Ensemble(Classifier):
    """The average of ``members``' class probabilities (log-averaged as logits).

    Args:
        members: Two or more classifiers with one architecture, input preparation and class count; the first is the
            one the ensemble's ``features``, ``backbone`` and ``head`` are (it is used as is, not copied).

    Raises:
        ValueError: fewer than two members, or members that differ in architecture (state-dict names or shapes),
            input preparation or classes.
    """

    def __init__(self, members: Sequence[Classifier]) -> None:
        if len(members) < 2:
            raise ValueError(f"an ensemble needs two or more members, got {len(members)}")
        if not combinable(members):  # the class count is the head's shape
            raise ValueError("ensemble members must share one architecture, input preparation and class count")
        first = members[0]
        super().__init__(first.backbone, first.n_classes, first.head_spec, depth=first.depth,
                         input_spec=first.input_spec, neck=first.neck, neck_spec=first.neck_spec,
                         neck_dim=first.feature_dim if first.neck_spec else None)
        self.head = first.head  # the first member's trained head, not the fresh one Classifier built
        self.others = nn.ModuleList(members[1:])

    @property
    def size(self) -> int:
        """The number of members."""
        return 1 + len(self.others)

    def first_member(self) -> Classifier:
        """The first member as a plain classifier (sharing this ensemble's tensors)."""
        first = Classifier(self.backbone, self.n_classes, self.head_spec, depth=self.depth, input_spec=self.input_spec,
                           neck=self.neck, neck_spec=self.neck_spec,
                           neck_dim=self.feature_dim if self.neck_spec else None)
        first.head = self.head
        return first

    def forward(self, x: Any) -> Tensor:
        """The log of the members' average class probabilities (a softmax of it is that average)."""
        logp = [super().forward(x).log_softmax(-1), *(m(x).log_softmax(-1) for m in self.others)]
        return torch.logsumexp(torch.stack(logp), 0) - math.log(len(logp))
