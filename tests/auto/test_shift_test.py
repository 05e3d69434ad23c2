"""The classifier two-sample test auto runs before trusting the source's held-out labels."""

from __future__ import annotations

import torch

from warmstart.auto.shift_test import ALPHA, ShiftTest, shift_test
from warmstart.tasks import get_task


def _halves() -> tuple[torch.Tensor, torch.Tensor]:
    a, b = get_task("breast_cancer-a"), get_task("breast_cancer-b")
    return torch.cat([a.x_val, a.x_test]), b.x_train


def test_two_halves_of_one_table_show_no_shift() -> None:
    t = shift_test(*_halves())
    assert t is not None and not t.shifted
    assert t.p_value >= ALPHA and 0.3 < t.accuracy < 0.7 and t.n % 2 == 0
    assert "no shift" in t.describe()


def test_a_moved_copy_shows_a_shift() -> None:
    src, tgt = _halves()
    t = shift_test(src, tgt + tgt.std(0) * 0.8)  # every feature moved by most of its spread
    assert t is not None and t.shifted and t.accuracy > 0.7
    assert t.to_json()["shifted"] is True and "a shift" in t.describe()


def test_images_of_another_dataset_show_a_shift() -> None:
    a, b = get_task("mnist5k-a"), get_task("mnist5k-b-inverted")
    t = shift_test(a.x_test, b.x_train[:300])
    assert t is not None and t.shifted


def test_inputs_it_cannot_compare_give_none() -> None:
    src, tgt = _halves()
    assert shift_test(src, tgt[:, :5]) is None  # other shapes
    assert shift_test(["a text"] * 20, ["another"] * 20) is None  # not tensors
    assert shift_test(src[:3], tgt) is None  # fewer inputs than folds


def test_the_verdict_follows_the_p_value() -> None:
    assert ShiftTest(0.6, ALPHA / 2, 100).shifted and not ShiftTest(0.52, 0.4, 100).shifted
