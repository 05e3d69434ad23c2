"""A strategy that starts from a tabular source trains and evaluates in the source table's standardization."""

from __future__ import annotations

import torch

from warmstart.engine.evaluate import classification_metrics
from warmstart.source import Source
from warmstart.strategies import get_strategy
from warmstart.tasks import get_task


def test_input_scaler_of_a_source_task_needs_no_pretraining() -> None:
    src = Source(task_name="breast_cancer-a", pretrain_epochs=1)
    assert src.input_scaler() == get_task("breast_cancer-a").scaler
    assert src._ckpt is None  # answered from the task


def test_finetune_from_a_table_takes_its_rows_as_the_source_standardized_them() -> None:
    src = Source(task_name="breast_cancer-a", pretrain_epochs=1, seed=0)
    cut = get_task("breast_cancer-b").few_shot(5, seed=0)
    ft = get_strategy("finetune", epochs=2, min_steps=0, progress=False).fit(cut, src)
    source_scaler = src.checkpoint(progress=False).model.input_spec.scaler
    assert source_scaler == get_task("breast_cancer-a").scaler
    assert ft.model_.input_spec.scaler == source_scaler != cut.scaler
    assert "source's table" in ft.info_["standardized"]
    moved = cut.in_scale(source_scaler)
    expected = classification_metrics(ft.predict_proba(moved.x_test), cut.y_test)
    assert ft.evaluate(cut) == expected  # evaluate moves the task's rows itself
    assert torch.allclose(ft.task_inputs(cut, cut.x_test), moved.x_test)


def test_scratch_keeps_the_targets_own_standardization() -> None:
    src = Source(task_name="breast_cancer-a", pretrain_epochs=1, seed=0)
    cut = get_task("breast_cancer-b").few_shot(5, seed=0)
    sc = get_strategy("scratch", epochs=1, min_steps=0, progress=False).fit(cut, src)
    assert sc.model_.input_spec.scaler == cut.scaler and "standardized" not in sc.info_
    assert torch.equal(sc.task_inputs(cut, cut.x_test), cut.x_test)
