"""Class-subset names ``TASK[CLASSES]``: canonical names, relabelled splits, one clear error per bad subset."""

from __future__ import annotations

import pytest
import torch

from warmstart.errors import ConfigError, UnknownNameError
from warmstart.tasks import get_task, load_task, register_task
from warmstart.tasks.class_subsets import resolve_classes, split_subset_name


def test_two_and_five_way_subsets_keep_only_those_classes_relabelled() -> None:
    full = get_task("digits")
    two = get_task("digits[3,8]")
    assert two.name == "digits[3,8]" and two.classes == ["3", "8"] and two.n_classes == 2
    for split in ("train", "val", "test"):
        y_full = getattr(full, f"y_{split}")
        x_full = getattr(full, f"x_{split}")
        keep = (y_full == 3) | (y_full == 8)
        assert torch.equal(getattr(two, f"x_{split}"), x_full[keep])
        assert torch.equal(getattr(two, f"y_{split}"), (y_full[keep] == 8).long())
    five = get_task("digits[0-4]")
    assert five.name == "digits[0,1,2,3,4]" and five.classes == ["0", "1", "2", "3", "4"]
    assert set(five.y_test.tolist()) == {0, 1, 2, 3, 4}
    assert five.provenance["class_subset_names"] == ["0", "1", "2", "3", "4"]
    assert len(five.few_shot(20, seed=0).y_train) == 100


def test_every_spelling_names_one_canonical_task() -> None:
    a, b = get_task("digits[8,3]"), get_task("digits[3-3,8]")
    assert a.name == b.name == "digits[3,8]" and a.classes == ["3", "8"]
    assert torch.equal(a.y_train, b.y_train)
    # the same name Task.subset_classes gives, and that name loads the same task again
    made = get_task("digits").subset_classes([3, 8])
    assert made.name == a.name and torch.equal(get_task(made.name).x_test, made.x_test)


def test_subsets_of_halves_shifts_and_tabular_tasks() -> None:
    t = get_task("mnist5k-b-inverted[4,9]")
    assert t.provenance["shift"] == "inverted" and t.provenance["half"] == "b" and t.classes == ["4", "9"]
    iris = load_task("iris[setosa,virginica]")
    assert iris.modality == "tabular" and iris.classes == ["setosa", "virginica"]
    assert iris.provenance["class_subset"] == [0, 2]


@pytest.mark.parametrize("name,culprit", [
    ("digits[3,11]", "no class '11'"),
    ("digits[3]", "keeps 1 class"),
    ("digits[0-9]", "keeps every class"),
    ("digits[4-2]", "runs backwards"),
    ("digits[3,3]", "class '3' twice"),
    ("digits[3,,4]", "empty entry"),
    ("digits[]", "empty entry"),
    ("wine[0-1]", "no class '0'"),
    ("iris[setosa,rose]", "no class 'rose'"),
])
def test_bad_subsets_are_one_config_error_naming_the_culprit(name: str, culprit: str) -> None:
    with pytest.raises(ConfigError, match=culprit) as exc:
        get_task(name)
    assert "\n" not in str(exc.value)


def test_unknown_inner_task_and_malformed_brackets_are_unknown_names() -> None:
    for name in ("nosuch[1,2]", "digits[0-4", "digits[[1,2]]"):
        with pytest.raises(UnknownNameError, match="<built-in task>\\[<classes>\\]"):
            get_task(name)
    with pytest.raises(ValueError, match="built-in"):
        register_task("digits[1,2]", lambda: get_task("digits"))


def test_parsing_helpers() -> None:
    assert split_subset_name("digits-b-thin[0-4]") == ("digits-b-thin", "0-4")
    assert split_subset_name("digits") is None
    assert resolve_classes(" 7 , 1-2", [str(i) for i in range(10)], "digits") == [1, 2, 7]
