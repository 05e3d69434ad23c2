"""Combining auto's fits that score best on held-out labels: a model soup or an ensemble.

Fits of several recipes from one pretrained source, each on every label, often lie in one basin of the loss, and
the average of their weights is then one model that is better than most of them (Wortsman et al., "Model soups:
averaging weights of multiple fine-tuned models improves accuracy without increasing inference time", ICML 2022):
:func:`nll_soup`. The average of their class probabilities (:func:`nll_ensemble`, an
:class:`~warmstart.backbones.ensemble.Ensemble`; Caruana et al., ICML 2004) needs no shared basin and is what auto
returns since its revision 41. Both take the :data:`SOUP_SIZE` fits with the lowest log-loss on held-out labelled
examples (a proper scoring rule separates fits that their accuracy on a few dozen examples ties) among those sharing
the best one's architecture and inputs (:func:`lowest_nll`); either is one model, saved, exported and served like
any other.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from warmstart.backbones.classifier import Classifier
from warmstart.backbones.ensemble import Ensemble, combinable

#: the fits combined: weight-averaged in a soup, probability-averaged in an ensemble (auto's, since its revision 41)
SOUP_SIZE = 5


def average_weights(models: Sequence[nn.Module]) -> nn.Module | None:
    """The uniform average of ``models``' weights (floating-point tensors; the others are the first model's), as a
    copy of the first model; None when their state dicts differ in names or shapes, or their inputs differ (an
    ``input_spec``: a table's model fitted from scratch takes its own standardization, one from the source the
    source's)."""
    if not combinable(models):
        return None
    states = [m.state_dict() for m in models]
    first = states[0]
    out = copy.deepcopy(models[0])
    out.load_state_dict({k: (torch.stack([s[k].float() for s in states]).mean(0).to(first[k].dtype)
                             if first[k].is_floating_point() else first[k]) for k in first})
    return out


def held_out_scores(proba: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(accuracy, mean log-loss) of class probabilities ``proba`` (N×K) on labels ``y`` (probabilities floored at
    1e-7)."""
    p = proba.cpu().clamp_min(1e-7)
    y = y.cpu()
    return float((p.argmax(1) == y).float().mean()), float(-p[torch.arange(len(y)), y].log().mean())


def lowest_nll(models: Sequence[nn.Module], nlls: Sequence[float], size: int = SOUP_SIZE) -> list[int]:
    """The indices of the ``size`` models with the lowest held-out log-loss ``nlls`` (ties: the earlier model) among
    those sharing the best one's architecture and inputs (those whose weights average with its), best first.

    Raises:
        ValueError: no models, or ``nlls`` of another length.
    """
    if not models or len(models) != len(nlls):
        raise ValueError(f"one log-loss per model is needed ({len(models)} models, {len(nlls)} log-losses)")
    order = sorted(range(len(models)), key=lambda i: (round(float(nlls[i]), 9), i))
    kept = [order[0]]
    for i in order[1:]:
        if len(kept) == size:
            break
        if combinable([models[order[0]], models[i]]):
            kept.append(i)
    return kept


def nll_soup(models: Sequence[nn.Module], nlls: Sequence[float],
             size: int = SOUP_SIZE) -> tuple[list[int], nn.Module]:
    """The soup (weight average) of the models :func:`lowest_nll` keeps.

    Returns:
        (the indices of the averaged models, best first; the soup). One index and a copy of that model where no
        other model shares its architecture.

    Raises:
        ValueError: no models, or ``nlls`` of another length.
    """
    kept = lowest_nll(models, nlls, size)
    soup = average_weights([models[i] for i in kept])
    assert soup is not None  # every kept model averages with the first
    return kept, soup


def nll_ensemble(models: Sequence[Classifier], nlls: Sequence[float],
                 size: int = SOUP_SIZE) -> tuple[list[int], Classifier]:
    """The ensemble (average of the class probabilities, :class:`~warmstart.backbones.ensemble.Ensemble`) of the
    models :func:`lowest_nll` keeps.

    Returns:
        (the indices of the ensemble's members, best first; the ensemble). One index and that model itself where no
        other model shares its architecture.

    Raises:
        ValueError: no models, or ``nlls`` of another length.
    """
    kept = lowest_nll(models, nlls, size)
    return kept, (Ensemble([models[i] for i in kept]) if len(kept) > 1 else models[kept[0]])


def with_model(result: Any, model: torch.nn.Module) -> Any:
    """A copy of a run ``result`` whose strategy predicts with ``model`` (its test metrics unset: they were the
    fit's). The strategy is a shallow copy; a feature cache it keeps (linear probing's) is not read for ``model``,
    whose tensors are not the ones it was computed with (``FrozenBackbone.unchanged``)."""
    import dataclasses

    strategy = copy.copy(result.strategy)
    strategy.model_ = model
    return dataclasses.replace(result, strategy=strategy, test=None)
