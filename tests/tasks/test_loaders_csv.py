"""CSV loader: label column choice, class names, standardization and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from warmstart.errors import DataError
from warmstart.tasks import load_task
from warmstart.tasks._splits import stratified_three_way
from warmstart.tasks.loaders import load_path


def _csv(path: Path, header: list[str] | None, rows: list[list[object]]) -> Path:
    lines = [",".join(header)] if header else []
    lines += [",".join(str(c) for c in r) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def _rows(n: int = 30) -> list[list[object]]:
    rng = np.random.default_rng(0)
    return [[round(float(rng.normal(3, 2)), 4), ("setosa", "virginica")[i % 2], i % 5] for i in range(n)]


def test_label_column_by_name_string_classes_and_train_stats(tmp_path: Path) -> None:
    rows = _rows()
    path = _csv(tmp_path / "flowers.csv", ["length", "label", "petals"], rows)
    task = load_task(path)
    assert task.name == "flowers" and task.modality == "tabular"
    assert task.classes == ["setosa", "virginica"] and task.input_shape == (2,)
    x = np.array([[r[0], r[2]] for r in rows], dtype=np.float64)
    y = np.array([r[1] == "virginica" for r in rows], dtype=np.int64)
    tr, _, te = stratified_three_way(y)
    mean, std = x[tr].mean(0), x[tr].std(0, ddof=1)
    assert np.allclose(task.x_test.numpy(), (x[te] - mean) / std, atol=1e-4)
    assert task.y_test.tolist() == y[te].tolist()
    assert task.provenance["features"] == ["length", "petals"]


def test_default_is_last_column_and_integer_labels_sort_numerically(tmp_path: Path) -> None:
    rows = [[i, i * 2, (1, 2, 10)[i % 3]] for i in range(30)]
    task = load_path(_csv(tmp_path / "n.csv", ["a", "b", "target"], rows))
    assert task.classes == ["1", "2", "10"]
    assert task.provenance["label_column"] == "target"


def test_explicit_label_column_name_or_index_and_headerless(tmp_path: Path) -> None:
    rows = [[i % 2, i, i * 3] for i in range(30)]
    named = load_path(_csv(tmp_path / "h.csv", ["y", "a", "b"], rows), label_column="y")
    indexed = load_path(tmp_path / "h.csv", label_column=0)
    assert named.classes == indexed.classes == ["0", "1"]
    assert named.x_train.equal(indexed.x_train)
    bare = load_path(_csv(tmp_path / "bare.csv", None, rows), label_column=0)
    assert bare.x_train.equal(named.x_train)


def test_tsv(tmp_path: Path) -> None:
    path = tmp_path / "t.tsv"
    path.write_text("a\tlabel\n" + "".join(f"{i}\t{i % 2}\n" for i in range(20)))
    assert load_path(path).input_shape == (1,)


def test_missing_label_column_lists_columns(tmp_path: Path) -> None:
    path = _csv(tmp_path / "m.csv", ["a", "b", "kind"], _rows())
    with pytest.raises(DataError, match=r"m\.csv: no label column 'species'; columns are: a, b, kind"):
        load_path(path, label_column="species")


def test_non_numeric_feature_names_line_and_column(tmp_path: Path) -> None:
    rows = _rows()
    rows[4][2] = "seven"
    path = _csv(tmp_path / "bad.csv", ["length", "label", "petals"], rows)
    with pytest.raises(DataError, match=r"bad\.csv, line 6: column 'petals' has non-numeric value 'seven'"):
        load_path(path)
    rows[4][2] = ""
    _csv(path, ["length", "label", "petals"], rows)
    with pytest.raises(DataError, match=r"line 6: column 'petals' is empty"):
        load_path(path)


@pytest.mark.parametrize("value", ["nan", "inf", "-Infinity"])
def test_nan_inf_names_the_row(tmp_path: Path, value: str) -> None:
    rows = _rows()
    rows[9][0] = value
    path = _csv(tmp_path / "nan.csv", ["length", "label", "petals"], rows)
    with pytest.raises(DataError, match=r"nan\.csv, line 11 \(data row 9\): column 'length' .*NaN or inf"):
        load_path(path)


def test_structural_errors(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="file is empty"):
        load_path(tmp_path / "empty.csv")
    (tmp_path / "head.csv").write_text("a,label\n")
    with pytest.raises(DataError, match="no data rows"):
        load_path(tmp_path / "head.csv")
    (tmp_path / "ragged.csv").write_text("a,label\n1,0\n2\n")
    with pytest.raises(DataError, match=r"line 3: 1 cells but the header has 2"):
        load_path(tmp_path / "ragged.csv")
    _csv(tmp_path / "one.csv", ["a", "label"], [[i, "x"] for i in range(10)])
    with pytest.raises(DataError, match="needs at least 2 classes"):
        load_path(tmp_path / "one.csv")
    (tmp_path / "nolabel.csv").write_text("a,label\n1,\n2,1\n")
    with pytest.raises(DataError, match=r"line 2: label column 'label' is empty"):
        load_path(tmp_path / "nolabel.csv")
