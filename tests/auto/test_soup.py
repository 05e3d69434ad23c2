"""Combining auto's fits: the weight average (a soup) or the probability average (an ensemble) of the lowest
log-losses."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from warmstart.auto.soup import average_weights, lowest_nll, nll_ensemble, nll_soup


def _mlp(seed: int, width: int = 4) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, width), nn.BatchNorm1d(width), nn.ReLU(), nn.Linear(width, 2))


def test_average_weights_is_the_mean_of_every_float_tensor_and_leaves_the_models_alone() -> None:
    models = [_mlp(s) for s in range(3)]
    before = [{k: v.clone() for k, v in m.state_dict().items()} for m in models]
    soup = average_weights(models)
    assert soup is not None and all(soup is not m for m in models)
    for k, v in soup.state_dict().items():
        if v.is_floating_point():
            assert torch.allclose(v, torch.stack([b[k] for b in before]).mean(0))
        else:  # the batch counter is the first model's
            assert torch.equal(v, before[0][k])
    assert all(torch.equal(m.state_dict()[k], b[k]) for m, b in zip(models, before, strict=True) for k in b)


def test_models_of_another_architecture_do_not_average() -> None:
    assert average_weights([_mlp(0), _mlp(1, width=5)]) is None
    assert average_weights([_mlp(0), nn.Linear(3, 2)]) is None


def test_the_soup_takes_the_lowest_log_losses_that_share_the_best_ones_architecture() -> None:
    models = [_mlp(0), _mlp(1, width=5), _mlp(2), _mlp(3), _mlp(4)]
    kept, soup = nll_soup(models, [0.5, 0.1, 0.3, 0.2, 0.9], size=3)
    # the best (index 1) has no partner of its architecture: it stays alone
    assert kept == [1] and soup is not models[1]
    assert all(torch.equal(a, b) for a, b in zip(soup.state_dict().values(), models[1].state_dict().values(),
                                                  strict=True))
    kept, soup = nll_soup(models, [0.5, 0.9, 0.3, 0.2, 0.3], size=3)
    assert kept == [3, 2, 4]  # ties: the earlier model
    w = soup.state_dict()["0.weight"]
    assert torch.allclose(w, torch.stack([models[i].state_dict()["0.weight"] for i in kept]).mean(0))


def test_one_log_loss_per_model_is_required() -> None:
    with pytest.raises(ValueError, match="one log-loss per model"):
        nll_soup([_mlp(0)], [0.1, 0.2])
    with pytest.raises(ValueError):
        nll_soup([], [])


def test_the_ensemble_takes_the_same_fits_and_averages_their_probabilities() -> None:
    from warmstart.backbones.ensemble import Ensemble
    from warmstart.backbones.new_model import new_model
    from warmstart.engine.evaluate import predict_proba
    from warmstart.tasks import get_task

    task = get_task("iris-b")
    models = []
    for seed in range(4):
        torch.manual_seed(seed)
        models.append(new_model(task).eval())
    models.insert(1, new_model(get_task("wine-b")).eval())  # another architecture: never a member
    nlls = [0.5, 0.05, 0.3, 0.2, 0.3]
    kept, ens = nll_ensemble(models, nlls, size=3)
    assert kept == [1] and ens is models[1]  # the best has no partner: it is the model
    nlls[1] = 0.9
    kept, ens = nll_ensemble(models, nlls, size=3)
    assert kept == lowest_nll(models, nlls, size=3) == [3, 2, 4] and isinstance(ens, Ensemble)
    x = task.x_test
    assert torch.allclose(predict_proba(ens, x), torch.stack([predict_proba(models[i], x) for i in kept]).mean(0),
                          atol=1e-6)
