"""strategies/_transfer.py: the source model adapted to a target."""

from __future__ import annotations

from pathlib import Path

import torch

from warmstart.source import Source
from warmstart.strategies._transfer import source_model
from warmstart.tasks import get_task


def test_a_new_head_starts_alike_in_every_fit_of_a_process(pretrained_source: Path) -> None:
    """Loading the source (built twice on its first use) must not shift the caller's random stream."""
    task = get_task("mnist5k-b-rotated").few_shot(1, seed=0)
    task = task.replace(classes=[f"c{i}" for i in range(task.n_classes)])  # other names: a new head
    src = Source(path=pretrained_source)
    heads = []
    for _ in range(2):
        torch.manual_seed(0)
        model, report = source_model(task, src, "new", progress=False)
        assert report["head"] == "new"
        heads.append(model.output_layer.weight.detach().clone())
    assert torch.equal(heads[0], heads[1])
