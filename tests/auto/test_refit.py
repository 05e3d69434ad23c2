"""auto's refit of its soup with the source's held-out examples: what it trains on, when it runs, what it returns.

Real fits on the breast_cancer halves (an MLP source pretrained on ``breast_cancer-a`` for a few epochs).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from warmstart.auto.clock import Clock
from warmstart.auto.refit import refit_seconds, refit_soup, with_held_out
from warmstart.auto.search import fixed_params
from warmstart.auto.source_validation import SourceFit, held_out
from warmstart.auto.sources import RankedSource
from warmstart.auto.winner import Winner
from warmstart.recipe import run_recipe
from warmstart.source import Source
from warmstart.tasks import get_task


@pytest.fixture(scope="module")
def breast_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from warmstart.engine import TrainConfig
    from warmstart.pretraining import pretrain_supervised

    out = tmp_path_factory.mktemp("source") / "breast_cancer-a"
    pretrain_supervised(get_task("breast_cancer-a"), out, config=TrainConfig(epochs=3, progress=False, seed=0))
    return out


def _fit(target, ranked: RankedSource, strategy: str) -> SourceFit:
    win = Winner(strategy, fixed_params(strategy, None), None, ranked, fit_seconds=0.2, validation=1.0, number=0)
    res = run_recipe(target, win.recipe(win.params, 0), validation="none", source=ranked.source)
    return SourceFit(win, "trial", dict(win.params), 0.9, 0.3, float(res.seconds), None, res)


def test_with_held_out_appends_the_examples_to_the_labelled_split_only() -> None:
    target = get_task("breast_cancer-b").few_shot(5, seed=0)
    x, y = torch.randn(7, target.x_train.shape[1]), torch.tensor([0, 1, 1, 0, 1, 0, 0])
    grown = with_held_out(target, x, y)
    assert torch.equal(grown.x_train, torch.cat([target.x_train, x])) and grown.y_train.dtype == torch.long
    assert torch.equal(grown.y_train, torch.cat([target.y_train, y])) and len(target.y_train) == 10
    assert torch.equal(grown.x_test, target.x_test) and torch.equal(grown.x_unlabeled, target.x_unlabeled)


def test_the_refit_trains_each_recipe_on_target_and_held_out_labels_and_averages(breast_source) -> None:
    target = get_task("breast_cancer-b").few_shot(5, seed=0)
    ranked = RankedSource("src", Source(path=breast_source, task_name="breast_cancer-a"), 0.1, -0.1, 0.2)
    x, y = held_out(ranked, target)
    fits = [_fit(target, ranked, "finetune"), _fit(target, ranked, "l2sp")]
    result, note = refit_soup(target, fits, x, y, Clock(120.0), seed=0, device="cpu", progress=False)
    assert result is not None and result.test is None
    assert "2 recipes were fitted again on the target's 10 labels and the source's 86 held-out examples" in note
    # the same recipes run by hand on the grown task: their weights' mean is the refit's model
    grown = with_held_out(target, x, y)
    by_hand = [run_recipe(grown, f.winner.recipe(f.params, 0), validation="none", source=ranked.source)
               for f in fits]
    for name, w in result.strategy.model_.state_dict().items():
        if w.is_floating_point():
            mean = torch.stack([r.strategy.model_.state_dict()[name] for r in by_hand]).mean(0)
            assert torch.allclose(w, mean, atol=1e-5), name
    before = fits[0].result.strategy.model_.state_dict()
    assert any(not torch.equal(w, before[k]) for k, w in result.strategy.model_.state_dict().items()
               if w.is_floating_point())


def test_no_refit_when_it_is_not_predicted_to_fit_in_the_time_left(breast_source) -> None:
    target = get_task("breast_cancer-b").few_shot(5, seed=0)
    ranked = RankedSource("src", Source(path=breast_source, task_name="breast_cancer-a"), 0.1, -0.1, 0.2)
    x, y = held_out(ranked, target)
    fits = [_fit(target, ranked, "finetune")]
    predicted = refit_seconds(fits, 96)
    assert predicted > fits[0].seconds * 0.5  # finetune's epochs grow with the labels
    result, note = refit_soup(target, fits, x, y, Clock(predicted / 2 + 3.0), seed=0, device="cpu", progress=False)
    assert result is None and "was not refitted" in note and "predicted to take" in note
